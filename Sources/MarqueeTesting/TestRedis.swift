// A throw-away Redis server for tests; see TestServers.swift.

import Foundation

/// A Redis server run by `deploy/lib/redis-server` (127.0.0.1 only, no persistence).
///
/// May be used from any thread; `stop`, `start` and `restart` affect every user of the server.
public final class TestRedis: @unchecked Sendable {
    /// The server's directory (pidfile, log).
    public let directory: String
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// Whether this process started the server (and so stops it).
    let owned: Bool
    private let lib: String

    /// `redis://127.0.0.1:PORT`.
    public var url: String { "redis://127.0.0.1:\(port)" }

    init(directory: String, port: Int, owned: Bool, lib: String) {
        self.directory = directory
        self.port = port
        self.owned = owned
        self.lib = lib
    }

    static func serverPath() throws -> String {
        try TestServers.binary(["/usr/bin/redis-server", "/usr/local/bin/redis-server"], package: "redis-server")
    }

    static func cliPath() throws -> String {
        try TestServers.binary(["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"], package: "redis-tools")
    }

    /// Starts a server in `directory` on a free port (a few ports are tried).
    static func launch(in directory: String) throws -> TestRedis {
        let server = try serverPath()
        _ = try cliPath()
        let lib = try TestServers.deployLib()
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try TestServers.freePort()
            do {
                try TestServers.run(
                    "/bin/bash", ["\(lib)/redis-server", "start", directory, "\(port)"],
                    environment: ["REDIS_SERVER_BIN": server])
                return TestRedis(directory: directory, port: port, owned: true, lib: lib)
            } catch {
                lastError = error
            }
        }
        throw TestServerError("cannot start a test Redis in \(directory): \(lastError.map { "\($0)" } ?? "?")")
    }

    /// Runs `redis-cli -h 127.0.0.1 -p PORT arguments...`.
    /// - Returns: its output, trailing newline removed (`"PONG"` for `ping`).
    @discardableResult
    public func cli(_ arguments: String...) throws -> String {
        try cli(arguments: arguments)
    }

    @discardableResult
    public func cli(arguments: [String]) throws -> String {
        let output = try TestServers.run(
            try Self.cliPath(), ["-h", "127.0.0.1", "-p", "\(port)"] + arguments)
        return output.trimmingCharacters(in: .newlines)
    }

    /// Stops the server (its data, a cache, is lost).
    public func stop() throws {
        try TestServers.run("/bin/bash", ["\(lib)/redis-server", "stop", directory])
    }

    /// Starts the server again, on the same port.
    public func start() throws {
        try TestServers.run("/bin/bash", ["\(lib)/redis-server", "start", directory, "\(port)"])
    }

    /// Stops and starts the server, on the same port.
    public func restart() throws {
        try TestServers.run("/bin/bash", ["\(lib)/redis-server", "restart", directory])
    }

    /// Stops the server and removes its directory, when this process started it; else nothing.
    public func shutdown() {
        guard owned else { return }
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
