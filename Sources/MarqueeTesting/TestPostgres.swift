// A throw-away PostgreSQL server for tests; see TestServers.swift.

import Foundation

/// A PostgreSQL 15 cluster run by `deploy/lib/pg-cluster` (throw-away settings: trust on
/// 127.0.0.1, fsync off). The superuser is `postgres`, without a password.
///
/// May be used from any thread; `stop`, `start` and `restart` affect every user of the server.
public final class TestPostgres: @unchecked Sendable {
    /// The cluster's directory (data, socket, log).
    public let directory: String
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// Whether this process started the server (and so stops it).
    let owned: Bool
    private let lib: String

    /// `postgresql://postgres@127.0.0.1:PORT/postgres`.
    public var superuserURL: String { url(database: "postgres") }

    init(directory: String, port: Int, owned: Bool, lib: String) {
        self.directory = directory
        self.port = port
        self.owned = owned
        self.lib = lib
    }

    /// Where the server binaries are: PG_BINDIR, else Debian's PostgreSQL 15 folder.
    static var binDirectory: String {
        ProcessInfo.processInfo.environment["PG_BINDIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "/usr/lib/postgresql/15/bin"
    }

    /// Initializes and starts a cluster in `directory` on a free port (a few ports are tried:
    /// another process may take one between choosing and binding it).
    static func launch(in directory: String) throws -> TestPostgres {
        for tool in ["initdb", "pg_ctl", "postgres"] {
            _ = try TestServers.binary(["\(binDirectory)/\(tool)"], package: "postgresql-15")
        }
        _ = try psqlPath()
        let lib = try TestServers.deployLib()
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try TestServers.freePort()
            do {
                try TestServers.run("/bin/bash", ["\(lib)/pg-cluster", "init", directory, "\(port)", "--throwaway"])
                try TestServers.run("/bin/bash", ["\(lib)/pg-cluster", "start", directory, "\(port)", "--throwaway"])
                return TestPostgres(directory: directory, port: port, owned: true, lib: lib)
            } catch {
                lastError = error
            }
        }
        throw TestServerError("cannot start a test PostgreSQL in \(directory): \(lastError.map { "\($0)" } ?? "?")")
    }

    static func psqlPath() throws -> String {
        try TestServers.binary(["\(binDirectory)/psql", "/usr/bin/psql"], package: "postgresql-client-15")
    }

    /// The URL of `database` as the superuser.
    public func url(database: String) -> String {
        "postgresql://postgres@127.0.0.1:\(port)/\(database)"
    }

    /// Creates an empty database called `name` (dropping an older one of that name first), so
    /// that each suite starts from nothing.
    /// - Parameter name: lowercase letters, digits and `_`, at most 63 characters.
    /// - Returns: the database's URL (as the superuser).
    /// - Throws: `TestServerError` for a bad name or when psql fails.
    public func createDatabase(named name: String) throws -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_")
        guard !name.isEmpty, name.count <= 63, name.allSatisfy(allowed.contains), name.first?.isLetter == true else {
            throw TestServerError(
                "bad test database name '\(name)': use 1-63 lowercase letters, digits and _, starting with a letter")
        }
        try psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try psql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Runs `sql` with `psql` (unaligned, tuples only) against `database` as the superuser.
    /// - Returns: psql's output, trailing newline removed (`"1"` for `select 1`).
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        let output = try TestServers.run(
            try Self.psqlPath(),
            ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", url(database: database), "-c", sql])
        return output.trimmingCharacters(in: .newlines)
    }

    /// Stops the server (fast shutdown: open connections are closed).
    public func stop() throws {
        try TestServers.run("/bin/bash", ["\(lib)/pg-cluster", "stop", directory])
    }

    /// Starts the server again, on the same port.
    public func start() throws {
        try TestServers.run("/bin/bash", ["\(lib)/pg-cluster", "start", directory, "\(port)", "--throwaway"])
    }

    /// Stops and starts the server (open connections break; the data stays).
    public func restart() throws {
        try TestServers.run("/bin/bash", ["\(lib)/pg-cluster", "restart", directory])
    }

    /// Stops the server and removes its directory, when this process started it; else nothing.
    public func shutdown() {
        guard owned else { return }
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
