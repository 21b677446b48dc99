import Foundation
import MarqueeTesting
import Postgres
import Reactor
import Testing

/// Every query has a client-side deadline: past it the caller is answered (`.queryTimeout`)
/// and the server cancels the statement; a server that hangs (SIGSTOP) never holds a caller
/// past its deadline, and the pool works again once the server does.
@Suite(.serialized, .timeLimit(.minutes(3))) struct QueryDeadlineTests {
    static let url: String = {
        do { return try TestServers.postgres().createDatabase(named: "pg_deadline_tests") } catch {
            fatalError("cannot create the test database: \(error)")
        }
    }()

    func makePool(url: String = Self.url, max: Int = 1, queryTimeout: Duration) throws -> PostgresPool {
        var configuration = try PostgresConfiguration(url: url)
        configuration.statementTimeout = nil  // only our deadline may stop the statement
        return PostgresPool(
            configuration: configuration, loop: TestLoops.group.loops[0], minConnections: 1, maxConnections: max,
            queryTimeout: queryTimeout)
    }

    @Test func aStatementTimeoutIsSetOnEveryConnectionByDefault() async throws {
        let pool = PostgresPool(configuration: try PostgresConfiguration(url: Self.url), loop: TestLoops.group.loops[0])
        defer { Task { await pool.shutdown() } }
        #expect(try await pool.query("SHOW statement_timeout")[0].decode(String.self, column: 0) == "10s")
    }

    @Test func aQueryPastItsDeadlineIsAnsweredAndCancelledOnTheServer() async throws {
        let pool = try makePool(queryTimeout: .milliseconds(300))
        defer { Task { await pool.shutdown() } }
        let marker = "deadline_\(UInt32.random(in: 0...UInt32.max))"
        let start = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) {
            _ = try await pool.query("SELECT pg_sleep(60), '\(marker)'")
        }
        #expect(error?.code == .queryTimeout)
        #expect(ContinuousClock.now - start < .seconds(5), "answered at the deadline, not when the statement ended")

        // The cancel reached the server: the statement is gone long before its 60 s.
        let server = try TestServers.postgres()
        let stopped = try await poll(for: .seconds(10)) {
            try server.psql("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%\(marker)%' AND pid <> pg_backend_pid()") == "0"
        }
        #expect(stopped, "the server still runs the statement")
        // And the pool's one connection serves again (its late error was matched and dropped).
        let works = try await poll(for: .seconds(10)) { try await pool.query("SELECT 7")[0].decode(Int.self, column: 0) == 7 }
        #expect(works)
    }

    @Test func aTransactionPastItsDeadlineFailsWithoutWaitingForARollback() async throws {
        let pool = try makePool(max: 2, queryTimeout: .milliseconds(300))
        defer { Task { await pool.shutdown() } }
        let start = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withTransaction { transaction in
                _ = try await transaction.query("SELECT pg_sleep(60)")
            }
        }
        #expect(error?.code == .queryTimeout)
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(try await poll(for: .seconds(10)) { try await pool.query("SELECT 1")[0].decode(Int.self, column: 0) == 1 })
    }

    /// A statement prepared for the first time behind a lock: its prepare waits for the lock
    /// too, the deadline passes, and the preparation fails. The connection must not believe it
    /// prepared (every later run would fail with "prepared statement does not exist").
    @Test func aPreparationPastItsDeadlineIsPreparedAgainLater() async throws {
        let table = "locked_\(UInt32.random(in: 0...UInt32.max))"
        let pool = try makePool(queryTimeout: .milliseconds(300))  // creates the database first
        let server = try TestServers.postgres()
        _ = try server.psql("CREATE TABLE \(table) (id int); INSERT INTO \(table) VALUES (1), (2)", database: "pg_deadline_tests")
        let holder = try makePool(queryTimeout: .seconds(60))
        defer { Task { await pool.shutdown(); await holder.shutdown() } }
        let sql = "SELECT count(*) FROM \(table) WHERE id > $1"

        let lock = Task {
            try await holder.withTransaction { transaction in
                _ = try await transaction.query("LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE")
                _ = try await transaction.query("SELECT pg_sleep(2)")
            }
        }
        #expect(try await poll(for: .seconds(10)) {
            try server.psql(
                "SELECT count(*) FROM pg_locks WHERE relation = '\(table)'::regclass AND granted AND mode = 'AccessExclusiveLock'",
                database: "pg_deadline_tests") == "1"
        }, "the lock was never taken")
        let error = await #expect(throws: PostgresError.self) { _ = try await pool.query(sql, [.int(0)]) }
        #expect(error?.code == .queryTimeout)
        try await lock.value

        // Once the lock is gone the statement runs (after, at most, the late cancel's victim).
        #expect(try await poll(for: .seconds(10)) { try await pool.query(sql, [.int(0)])[0].decode(Int.self, column: 0) == 2 })
        for _ in 0..<3 { #expect(try await pool.query(sql, [.int(1)])[0].decode(Int.self, column: 0) == 1) }
    }

    /// A cancel stops whatever the backend runs when it arrives. Here it arrives late (the
    /// postmaster, which takes cancel requests, is stopped; the backends run on): the
    /// abandoned statement has finished by then, and a query given to the connection
    /// meanwhile would be the one stopped. The connection takes no new work until its
    /// cancel is delivered.
    @Test func aLateCancelNeverStopsALaterQuery() async throws {
        let server = try TestServers.privatePostgres()
        defer { server.shutdown() }
        let url = try server.createDatabase(named: "late_cancel")
        let pool = try makePool(url: url, max: 1, queryTimeout: .seconds(2))
        defer { Task { await pool.shutdown() } }
        #expect(try await pool.query("SELECT 1")[0].decode(Int.self, column: 0) == 1)

        let postmaster = try server.postmasterPID()
        kill(postmaster, SIGSTOP)
        defer { kill(postmaster, SIGCONT) }
        let error = await #expect(throws: PostgresError.self) { _ = try await pool.query("SELECT pg_sleep(2.3)") }
        #expect(error?.code == .queryTimeout)
        // The abandoned statement ends on the server 0.3 s after its deadline; its cancel waits.
        try await Task.sleep(for: .seconds(1))
        let later = Task { try await pool.query("SELECT pg_sleep(0.5), 5")[0].decode(Int.self, column: 1) }
        try await Task.sleep(for: .milliseconds(100))
        kill(postmaster, SIGCONT)
        let answer = await later.result
        #expect((try? answer.get()) == 5, "\(answer)")
    }

    /// A frozen server (SIGSTOP of the postmaster and its backends: no answer, no reset).
    @Test func aHungServerNeverHoldsACallerPastItsDeadline() async throws {
        let server = try TestServers.privatePostgres()
        defer { server.shutdown() }
        let url = try server.createDatabase(named: "hung")
        let pool = try makePool(url: url, max: 2, queryTimeout: .milliseconds(500))
        defer { Task { await pool.shutdown() } }
        #expect(try await pool.query("SELECT 1")[0].decode(Int.self, column: 0) == 1)

        try server.pause()
        defer { try? server.resume() }
        // Callers one after another and at once, over more than two deadlines (the
        // connections stall, then are closed, then reconnects time out).
        var slowest = Duration.zero
        var codes: Set<String> = []
        let until = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < until {
            let outcomes = await withTaskGroup(of: (Duration, String).self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let start = ContinuousClock.now
                        do {
                            _ = try await pool.query("SELECT 1")
                            return (ContinuousClock.now - start, "answered")
                        } catch {
                            return (ContinuousClock.now - start, "\((error as? PostgresError)?.code.description ?? "\(error)")")
                        }
                    }
                }
                var outcomes: [(Duration, String)] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            for (elapsed, code) in outcomes {
                slowest = max(slowest, elapsed)
                codes.insert(code)
            }
        }
        // The deadline is 500 ms; a second of slack for a loaded machine, far below a hang.
        #expect(slowest < .milliseconds(1500), "a caller waited \(slowest)")
        #expect(!codes.contains("answered"), "a frozen server answered")
        #expect(codes.isSubset(of: ["query deadline passed", "pool wait timed out", "connection failed", "connection closed"]),
                "\(codes)")

        try server.resume()
        #expect(try await poll(for: .seconds(10)) { try await pool.query("SELECT 2")[0].decode(Int.self, column: 0) == 2 })
    }

    /// Polls `body` every 50 ms until it is true or `timeout` passes.
    func poll(for timeout: Duration, _ body: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if (try? await body()) == true { return true }
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
