// Throw-away PostgreSQL and Redis servers for Swift tests.
//
// Under `deploy/dev test` the servers already run (MARQUEE_TEST_* environment variables) and every
// test process shares them. Otherwise (`swift test` by hand, Xcode, a single `--filter`) the first
// call starts them through the same shell helpers (`deploy/lib/pg-cluster`, `deploy/lib/redis-server`)
// on free ports in a temporary directory, and they stop when the process exits: `atexit`, and a
// small watchdog process for the exits that skip `atexit` (a crash, a signal).
//
// A missing server binary is a thrown `TestServerError` that names the Debian package to install:
// integration tests fail, they are never skipped (STYLE.md).

import CLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why a test server could not be provided: the message says what to install or where to look.
public struct TestServerError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Entry points to the test servers.
///
/// `postgres()` and `redis()` return servers shared by the whole test process: use them for
/// anything that does not stop the server. Suites that stop or restart a server should take a
/// private one (`privatePostgres()`, `privateRedis()`), so that suites running in parallel are
/// not disturbed; those are started on demand, on free ports, and stopped at process exit or by
/// `shutdown()`.
///
/// May be called from any thread.
public enum TestServers {
    /// The process-wide PostgreSQL server (started on first use unless `deploy/dev test` runs one).
    /// - Throws: `TestServerError` when it cannot be started (e.g. postgresql-15 is not installed).
    public static func postgres() throws -> TestPostgres {
        try Registry.shared.withLock { state in
            if let server = state.sharedPostgres { return server }
            let server: TestPostgres
            let env = ProcessInfo.processInfo.environment
            if let dir = env["MARQUEE_TEST_PG_DIR"], let portText = env["MARQUEE_TEST_PG_PORT"],
                let port = Int(portText)
            {
                server = TestPostgres(directory: dir, port: port, owned: false, lib: try deployLib())
            } else {
                server = try TestPostgres.launch(in: try processDirectory(&state).appending("/pg"))
                state.owned.append(.postgres(server))
            }
            state.sharedPostgres = server
            return server
        }
    }

    /// The process-wide Redis server (started on first use unless `deploy/dev test` runs one).
    /// - Throws: `TestServerError` when it cannot be started (e.g. redis-server is not installed).
    public static func redis() throws -> TestRedis {
        try Registry.shared.withLock { state in
            if let server = state.sharedRedis { return server }
            let server: TestRedis
            let env = ProcessInfo.processInfo.environment
            if let dir = env["MARQUEE_TEST_REDIS_DIR"], let portText = env["MARQUEE_TEST_REDIS_PORT"],
                let port = Int(portText)
            {
                server = TestRedis(directory: dir, port: port, owned: false, lib: try deployLib())
            } else {
                server = try TestRedis.launch(in: try processDirectory(&state).appending("/redis"))
                state.owned.append(.redis(server))
            }
            state.sharedRedis = server
            return server
        }
    }

    /// A PostgreSQL server of the caller's own (for tests that stop or restart it).
    public static func privatePostgres() throws -> TestPostgres {
        try Registry.shared.withLock { state in
            state.counter += 1
            let server = try TestPostgres.launch(in: try processDirectory(&state).appending("/pg\(state.counter)"))
            state.owned.append(.postgres(server))
            return server
        }
    }

    /// A Redis server of the caller's own (for tests that stop or restart it).
    public static func privateRedis() throws -> TestRedis {
        try Registry.shared.withLock { state in
            state.counter += 1
            let server = try TestRedis.launch(in: try processDirectory(&state).appending("/redis\(state.counter)"))
            state.owned.append(.redis(server))
            return server
        }
    }

    /// Stops every server this process started and removes their directory. Registered with
    /// `atexit`; harmless to call twice.
    public static func shutdownAll() {
        let (servers, directory) = Registry.shared.withLock { state -> ([Registry.Owned], String?) in
            defer {
                state.owned = []
                state.directory = nil
            }
            return (state.owned, state.directory)
        }
        for server in servers.reversed() {
            switch server {
            case .postgres(let pg): pg.shutdown()
            case .redis(let redis): redis.shutdown()
            }
        }
        if let directory {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    // MARK: Internals

    /// The folder holding `pg-cluster` and `redis-server`: MARQUEE_DEPLOY_LIB, else
    /// `deploy/lib` of the repository this file is in.
    static func deployLib() throws -> String {
        if let lib = ProcessInfo.processInfo.environment["MARQUEE_DEPLOY_LIB"], !lib.isEmpty {
            return lib
        }
        // #filePath is <root>/Sources/MarqueeTesting/TestServers.swift.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let lib = root.appendingPathComponent("deploy/lib").path
        guard FileManager.default.isExecutableFile(atPath: lib + "/pg-cluster") else {
            throw TestServerError(
                "\(lib)/pg-cluster not found: the test servers need the repository's deploy/lib "
                    + "(or MARQUEE_DEPLOY_LIB pointing to it)"
            )
        }
        return lib
    }

    /// The process's temporary directory (created on first use, with the exit hooks).
    private static func processDirectory(_ state: inout Registry.State) throws -> String {
        if let directory = state.directory { return directory }
        // Short (unix socket paths are limited to 107 bytes) and enterable by the postgres user,
        // which runs the cluster when the tests run as root.
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let directory = "\(base)/marquee-swift-\(getpid())-\(UInt32.random(in: 0...UInt32.max) % 100_000)"
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw TestServerError("cannot create the test server directory \(directory): \(error)")
        }
        state.directory = directory
        if !state.exitHooksInstalled {
            state.exitHooksInstalled = true
            atexit { TestServers.shutdownAll() }
        }
        try startWatchdog(directory: directory, lib: try deployLib())
        return directory
    }

    /// A detached shell that waits for this process to end, then stops whatever is left in
    /// `directory` and removes it: the cleanup for exits that skip `atexit`. `setsid -f` puts it
    /// in a session of its own (a Ctrl-C to the tests does not reach it) and returns at once.
    private static func startWatchdog(directory: String, lib: String) throws {
        let script = """
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            for d in "$2"/*; do
                [ -f "$d/data/PG_VERSION" ] && "$3/pg-cluster" stop "$d"
                [ -f "$d/redis.pid" ] && "$3/redis-server" stop "$d"
            done
            rm -rf "$2"
            """
        do {
            try run(
                "/usr/bin/setsid",
                ["-f", "/bin/bash", "-c", script, "marquee-test-watchdog", "\(getpid())", directory, lib])
        } catch {
            throw TestServerError("cannot start the test server watchdog (setsid, from util-linux): \(error)")
        }
    }

    /// A TCP port that nothing listens on at 127.0.0.1 right now (the kernel's choice).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestServerError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else { throw TestServerError("cannot bind a free port on 127.0.0.1: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs `executable arguments...` to completion (``ChildProcess``); returns its output
    /// (stdout and stderr).
    /// - Throws: `TestServerError` with the output when it exits non-zero.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws
        -> String
    {
        let started = Date()
        defer {
            if ProcessInfo.processInfo.environment["MARQUEE_TEST_SERVERS_TRACE"] == "1" {
                let seconds = String(format: "%.3f", Date().timeIntervalSince(started))
                print("TestServers: \(seconds)s: \(([executable] + arguments).joined(separator: " "))")
            }
        }
        let (status, output) = try ChildProcess.run(executable, arguments, environment: environment)
        guard status == 0 else {
            let command = ([executable] + arguments).joined(separator: " ")
            let how = status > 128 ? "signal \(status - 128)" : "status \(status)"
            throw TestServerError("`\(command)` failed (\(how)):\n\(output)")
        }
        return output
    }

    /// The first of `candidates` that is an executable file, else a `TestServerError` naming
    /// the Debian package that provides it.
    static func binary(_ candidates: [String], package: String) throws -> String {
        for path in candidates where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw TestServerError(
            "\(candidates.first ?? "?") not found: install the Debian package \(package) "
                + "(apt-get install \(package); deploy/dev test installs what is missing)"
        )
    }
}

/// Process-wide state of `TestServers`, behind one lock.
final class Registry: @unchecked Sendable {
    enum Owned {
        case postgres(TestPostgres)
        case redis(TestRedis)
    }

    struct State {
        var sharedPostgres: TestPostgres?
        var sharedRedis: TestRedis?
        /// Servers this process started, in start order (stopped in reverse).
        var owned: [Owned] = []
        /// This process's temporary directory, once created.
        var directory: String?
        var exitHooksInstalled = false
        /// Numbers the private servers' directories.
        var counter = 0
    }

    static let shared = Registry()

    private let lock = NSLock()
    /// Guarded by `lock`.
    private var state = State()

    func withLock<T>(_ body: (inout State) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }
}
