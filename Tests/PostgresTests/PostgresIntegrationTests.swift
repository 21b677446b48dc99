import MarqueeTesting
import Postgres
import Reactor
import Synchronization
import Testing

/// The loops every Postgres test shares.
enum TestLoops {
    static let group = try! EventLoopGroup(loopCount: 2)
}

/// Queries against a real PostgreSQL (a fresh database for this suite).
@Suite(.serialized, .timeLimit(.minutes(10))) struct PostgresIntegrationTests {
    static let url: String = {
        do { return try TestServers.postgres().createDatabase(named: "pg_driver_tests") } catch {
            fatalError("cannot create the test database: \(error)")
        }
    }()

    func makePool(
        min: Int = 1, max: Int = 4, maxWaiters: Int = 1024, waitTimeout: Duration = .seconds(5),
        statementTimeout: Duration? = nil
    ) throws -> PostgresPool {
        PostgresPool(
            configuration: try PostgresConfiguration(url: Self.url), loop: TestLoops.group.loops[0],
            minConnections: min, maxConnections: max, maxWaiters: maxWaiters, waitTimeout: waitTimeout,
            statementTimeout: statementTimeout)
    }

    @Test func everySupportedTypeRoundTrips() async throws {
        let pool = try makePool()
        defer { Task { await pool.shutdown() } }
        let stamp = try #require(PostgresTimestamp(parsing: "2026-11-25T16:22:47.123456Z"))
        let large = String(repeating: "Marquee ✓ ", count: 200_000)  // ~2.2 MB
        let rows = try await pool.query(
            "SELECT $1::int8 AS i, $2::float8 AS d, $3::text AS t, $4::bool AS b, $5::timestamptz AS ts, "
                + "$6::int8 AS n, $7::text AS u, $8::text AS big, $9::int4 AS small, $10::int8[] = '{1,2,3}' AS arr",
            [.int(Int.min), .double(-0.1), .text("héllo 🎬 \"quoted\" 'single'"), .bool(true), .timestamp(stamp), .null,
             .text(""), .text(large), .int(42), .intArray([1, 2, 3])])
        #expect(rows.count == 1)
        let row = rows[0]
        #expect(try row.decode(Int.self, column: 0) == Int.min)
        #expect(try row["d", as: Double.self] == -0.1)
        #expect(try row["t", as: String.self] == "héllo 🎬 \"quoted\" 'single'")
        #expect(try row["b", as: Bool.self] == true)
        #expect(try row["ts", as: PostgresTimestamp.self] == stamp)
        #expect(try row["n", as: Int?.self] == nil)
        #expect(try row["u", as: String?.self] == "")
        #expect(try row["big", as: String.self] == large)
        #expect(try row["small", as: Int32.self] == 42)
        #expect(try row["arr", as: Bool.self])
        #expect(rows.columns == ["i", "d", "t", "b", "ts", "n", "u", "big", "small", "arr"])

        let special = try await pool.query(
            "SELECT 'NaN'::float8, 'Infinity'::float8, false, now() - now() < '1 second', 1.5::numeric, "
                + "NULL::timestamptz, NULL::bool, '2000-01-01 00:00:00'::timestamp")
        #expect(try special[0].decode(Double.self, column: 0).isNaN)
        #expect(try special[0].decode(Double.self, column: 1) == .infinity)
        #expect(try special[0].decode(Bool.self, column: 2) == false)
        #expect(try special[0].decode(Double.self, column: 4) == 1.5)
        #expect(try special[0].decode(PostgresTimestamp?.self, column: 5) == nil)
        #expect(try special[0].decode(Bool?.self, column: 6) == nil)
        #expect(try special[0].decode(PostgresTimestamp.self, column: 7).rfc3339 == "2000-01-01T00:00:00Z")
    }

    @Test func rowsOfATable() async throws {
        let pool = try makePool()
        defer { Task { await pool.shutdown() } }
        _ = try await pool.query("DROP TABLE IF EXISTS movies_rt")
        _ = try await pool.query("CREATE TABLE movies_rt (id bigserial PRIMARY KEY, title text NOT NULL, rating float8)")
        for (title, rating) in [("Alien", 8.5), ("Brazil", 7.9)] {
            let inserted = try await pool.query(
                "INSERT INTO movies_rt (title, rating) VALUES ($1, $2) RETURNING id", [.text(title), .double(rating)])
            #expect(inserted.rowsAffected == 1)
            #expect(try inserted[0].decode(Int.self, column: 0) > 0)
        }
        _ = try await pool.query("INSERT INTO movies_rt (title) VALUES ($1)", ["Cube"])
        let rows = try await pool.query("SELECT title, rating FROM movies_rt WHERE id = ANY($1) ORDER BY id", [.intArray([1, 2, 3])])
        #expect(try rows.map { try $0.decode(String.self, column: 0) } == ["Alien", "Brazil", "Cube"])
        #expect(try rows.map { try $0["rating", as: Double?.self] } == [8.5, 7.9, nil])
        let updated = try await pool.query("UPDATE movies_rt SET rating = 1 WHERE rating IS NULL")
        #expect(updated.rowsAffected == 1 && updated.commandTag == "UPDATE 1")
    }

    @Test func serverErrorsCarryTheirSQLState() async throws {
        let pool = try makePool()
        defer { Task { await pool.shutdown() } }
        await expectError(.syntaxError, sqlState: "42601") { _ = try await pool.query("SELEC 1") }
        await expectError(.undefinedTable, sqlState: "42P01") { _ = try await pool.query("SELECT * FROM no_such_table") }
        await expectError(.invalidTextRepresentation, sqlState: "22P02") {
            _ = try await pool.query("SELECT $1::int", ["abc"])
        }
        _ = try await pool.query("DROP TABLE IF EXISTS users_uv")
        _ = try await pool.query("CREATE TABLE users_uv (email text PRIMARY KEY)")
        _ = try await pool.query("INSERT INTO users_uv VALUES ($1)", ["a@example.com"])
        await expectError(.uniqueViolation, sqlState: "23505") {
            _ = try await pool.query("INSERT INTO users_uv VALUES ($1)", ["a@example.com"])
        }
        // The error never shows the SQL text or the values.
        let duplicate = await #expect(throws: PostgresError.self) {
            _ = try await pool.query("INSERT INTO users_uv VALUES ($1)", ["a@example.com"])
        }
        if let duplicate {
            #expect(!duplicate.description.contains("INSERT"))
            #expect(!duplicate.description.contains("a@example.com"))
            #expect(duplicate.debugDescription.contains("a@example.com"))  // the server's DETAIL
        }
        // The connection is still fine after errors.
        #expect(try await pool.query("SELECT 1")[0].decode(Int.self, column: 0) == 1)
    }

    @Test func aStatementThatFailedToPrepareIsPreparedAgainLater() async throws {
        let pool = try makePool(min: 1, max: 1)
        defer { Task { await pool.shutdown() } }
        _ = try await pool.query("DROP TABLE IF EXISTS later_table")
        let sql = "SELECT x FROM later_table WHERE x = $1"
        await expectError(.undefinedTable) { _ = try await pool.query(sql, [1]) }
        _ = try await pool.query("CREATE TABLE later_table (x int)")
        _ = try await pool.query("INSERT INTO later_table VALUES ($1)", [1])
        #expect(try await pool.query(sql, [1])[0].decode(Int.self, column: 0) == 1)
        #expect(try await pool.query(sql, [2]).isEmpty)  // now from the cached statement
    }

    @Test func decodingTheWrongTypeIsATypedError() async throws {
        let pool = try makePool()
        defer { Task { await pool.shutdown() } }
        let row = try await pool.query("SELECT 'x'::text AS title, NULL::int AS n, 5 AS five")[0]
        // Each decode must throw (a success fails the test) and with the right code.
        let title = #expect(throws: PostgresError.self) { _ = try row["title", as: Int.self] }
        #expect(title?.code == .typeMismatch)
        #expect(title?.column == "title" && title?.expectedType == "Int" && title?.actualType == "text")
        let null = #expect(throws: PostgresError.self) { _ = try row["n", as: Int.self] }
        #expect(null?.code == .unexpectedNull)
        let fiveAsString = #expect(throws: PostgresError.self) { _ = try row["five", as: String.self] }
        #expect(fiveAsString?.code == .typeMismatch)
        let fiveAsBool = #expect(throws: PostgresError.self) { _ = try row["five", as: Bool.self] }
        #expect(fiveAsBool?.code == .typeMismatch)
        let missing = #expect(throws: PostgresError.self) { _ = try row["missing", as: Int.self] }
        #expect(missing?.code == .columnNotFound)
        let column9 = #expect(throws: PostgresError.self) { _ = try row.decode(Int.self, column: 9) }
        #expect(column9?.code == .columnNotFound)
    }

    @Test func twoHundredConcurrentQueriesOverAPoolOfFour() async throws {
        let pool = try makePool(min: 1, max: 4)
        defer { Task { await pool.shutdown() } }
        let sums = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let rows = try await pool.query("SELECT $1::int8 * 2, pg_sleep(0.01)::text", [.int(index)])
                    return try rows[0].decode(Int.self, column: 0)
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(sums.sorted() == (0..<200).map { $0 * 2 })
        let statistics = await pool.statistics()
        #expect(statistics.ready <= 4 && statistics.waiting == 0)
        // The same from tasks on the pool's own loop (no hop).
        let loop = pool.loop
        let onLoop = try await Task(executorPreference: loop) {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let value = try await pool.query("SELECT $1::int8", [.int(index)])[0].decode(Int.self, column: 0)
                        return value == index && loop.inLoop
                    }
                }
                return try await group.allSatisfy { $0 }
            }
        }.value
        #expect(onLoop)
    }

    @Test func pipelineRunsStatementsInOneRoundTripWithIsolatedErrors() async throws {
        let pool = try makePool()
        defer { Task { await pool.shutdown() } }
        _ = try await pool.query("DROP TABLE IF EXISTS pipe")
        _ = try await pool.query("CREATE TABLE pipe (id int PRIMARY KEY)")
        let results = try await pool.pipeline([
            PostgresStatement("INSERT INTO pipe VALUES ($1)", [1]),
            PostgresStatement("INSERT INTO pipe VALUES ($1)", [1]),
            PostgresStatement("INSERT INTO pipe VALUES ($1)", [2]),
            PostgresStatement("SELECT count(*) FROM pipe"),
        ])
        #expect(results.count == 4)
        #expect((try? results[0].get().rowsAffected) == 1)
        if case .failure(let error) = results[1] { #expect(error.code == .uniqueViolation) } else { Issue.record("no error") }
        #expect((try? results[2].get().rowsAffected) == 1)
        #expect(try results[3].get()[0].decode(Int.self, column: 0) == 2)
    }

    @Test func transactionsCommitAndRollBack() async throws {
        let pool = try makePool(min: 1, max: 2)
        defer { Task { await pool.shutdown() } }
        _ = try await pool.query("DROP TABLE IF EXISTS accounts")
        _ = try await pool.query("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
        try await pool.withTransaction { tx in
            _ = try await tx.query("INSERT INTO accounts VALUES (1, 100), (2, 0)")
            _ = try await tx.query("UPDATE accounts SET balance = balance - 30 WHERE id = 1")
            _ = try await tx.query("UPDATE accounts SET balance = balance + 30 WHERE id = 2")
        }
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await pool.withTransaction { tx in
                _ = try await tx.query("UPDATE accounts SET balance = 0")
                throw Abort()
            }
        }
        await expectError(.uniqueViolation) {
            try await pool.withTransaction { tx in
                _ = try await tx.query("UPDATE accounts SET balance = 0")
                _ = try await tx.query("INSERT INTO accounts VALUES (1, 1)")
            }
        }
        let rows = try await pool.query("SELECT balance FROM accounts ORDER BY id")
        #expect(try rows.map { try $0.decode(Int.self, column: 0) } == [70, 30])
        // Queries keep flowing while transactions hold connections.
        async let held: Void = pool.withTransaction { tx in _ = try await tx.query("SELECT pg_sleep(0.2)") }
        #expect(try await pool.query("SELECT 5")[0].decode(Int.self, column: 0) == 5)
        try await held
    }

    @Test func statementTimeoutCancelsSlowQueries() async throws {
        let pool = try makePool(statementTimeout: .milliseconds(100))
        defer { Task { await pool.shutdown() } }
        await expectError(.queryCanceled, sqlState: "57014") { _ = try await pool.query("SELECT pg_sleep(2)") }
        #expect(try await pool.query("SELECT 1")[0].decode(Int.self, column: 0) == 1)
    }

    @Test func aFullWaitQueueFailsAtOnceAndASlowWaitTimesOut() async throws {
        let pool = try makePool(min: 1, max: 1, maxWaiters: 1, waitTimeout: .milliseconds(300))
        defer { Task { await pool.shutdown() } }
        _ = try await pool.query("SELECT 1")
        // A transaction holds the only connection for a while (conditions, not guessed sleeps:
        // the holder has the connection before anyone waits, and the waiter is queued before
        // the next call finds the queue full).
        let holding = Atomic<Bool>(false)
        async let holder: Void = pool.withTransaction { tx in
            holding.store(true, ordering: .relaxed)
            _ = try await tx.query("SELECT pg_sleep(1)")
        }
        #expect(await eventually { holding.load(ordering: .relaxed) })
        let waiting = Task { try await pool.query("SELECT 1") }  // waits, then times out
        #expect(await eventually { await pool.statistics().waiting == 1 })
        await expectError(.poolExhausted) { _ = try await pool.query("SELECT 2") }
        await expectError(.poolTimeout) { _ = try await waiting.value }
        try await holder
        #expect(try await pool.query("SELECT 3")[0].decode(Int.self, column: 0) == 3)
    }

    @Test func aDownServerFailsFast() async throws {
        // Nothing listens on port 1: every connect is refused.
        let pool = PostgresPool(
            configuration: try PostgresConfiguration(url: "postgresql://postgres@127.0.0.1:1/postgres"),
            loop: TestLoops.group.loops[1], minConnections: 1, maxConnections: 2)
        defer { Task { await pool.shutdown() } }
        await expectError(.connectionFailed) { _ = try await pool.query("SELECT 1") }
        let start = ContinuousClock.now
        for _ in 0..<10 { await expectError(.connectionFailed) { _ = try await pool.query("SELECT 1") } }
        // Each would otherwise wait for a 1 s connect attempt: ten of them, 10 s. The bound is
        // loose so a loaded CI machine cannot fail it.
        #expect(ContinuousClock.now - start < .seconds(3))
    }

    @Test func migrationsApplyOnceEvenWhenTwoInstancesRace() async throws {
        let url = try TestServers.postgres().createDatabase(named: "pg_driver_migrations")
        let configuration = try PostgresConfiguration(url: url)
        let first = PostgresClient(configuration: configuration, group: TestLoops.group)
        let second = PostgresClient(configuration: configuration, group: TestLoops.group)
        defer { Task { await first.shutdown(); await second.shutdown() } }
        let migrations = [
            Migration(version: 1, name: "movies", sql: "CREATE TABLE movies (id bigserial PRIMARY KEY, title text NOT NULL)"),
            Migration(
                version: 2, name: "watchlist",
                statements: [
                    "CREATE TABLE watchlist (user_id bigint NOT NULL, movie_id bigint NOT NULL REFERENCES movies (id), UNIQUE (user_id, movie_id))",
                    "CREATE INDEX watchlist_user ON watchlist (user_id)",
                ]),
        ]
        async let a = PostgresMigrator(client: first).migrate(migrations)
        async let b = PostgresMigrator(client: second).migrate(migrations)
        let (appliedA, appliedB) = try await (a, b)
        #expect((appliedA + appliedB).sorted() == [1, 2])
        let more = migrations + [Migration(version: 3, name: "rating", sql: "ALTER TABLE movies ADD COLUMN rating float8")]
        #expect(try await PostgresMigrator(client: first).migrate(more) == [3])
        #expect(try await PostgresMigrator(client: second).migrate(more) == [])
        let versions = try await first.query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
        #expect(try versions.map { try $0.decode(Int.self, column: 0) } == [1, 2, 3])
        #expect(try versions[0]["applied_at", as: PostgresTimestamp.self].secondsSinceEpoch > 1_700_000_000)
        // A failing migration leaves nothing behind.
        await expectError(.syntaxError) {
            try await PostgresMigrator(client: first).migrate(more + [Migration(version: 4, name: "bad", sql: "CREATE TABLEX y (x int)")])
        }
        #expect(try await first.query("SELECT count(*) FROM schema_migrations")[0].decode(Int.self, column: 0) == 3)
    }
}

/// Expects `body` to throw a ``PostgresError`` with `code` (and `sqlState`, when given).
func expectError(
    _ code: PostgresError.Code, sqlState: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code), got success", sourceLocation: sourceLocation)
    } catch let error as PostgresError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let sqlState { #expect(error.sqlState == sqlState, sourceLocation: sourceLocation) }
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite(.timeLimit(.minutes(10))) struct PostgresHostNameTests {
    /// A host name is resolved off the loop and handed to libpq as `hostaddr`, so libpq's
    /// own (blocking) lookup never runs on an event loop; connecting by name still works,
    /// and an unresolvable name fails the query instead of hanging.
    @Test func aHostNameIsResolvedBeforeLibpqConnects() async throws {
        let url = PostgresIntegrationTests.url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        #expect(url.contains("@localhost:"))
        let pool = PostgresPool(
            configuration: try PostgresConfiguration(url: url), loop: TestLoops.group.loops[1],
            minConnections: 0, maxConnections: 1)
        let rows = try await pool.query("SELECT 41 + 1")
        #expect(try rows[0].decode(Int.self, column: 0) == 42)
        await pool.shutdown()

        let nowhere = PostgresPool(
            configuration: try PostgresConfiguration(url: "postgresql://postgres@no-such-host.invalid:5432/postgres"),
            loop: TestLoops.group.loops[1], minConnections: 0, maxConnections: 1)
        await #expect(throws: PostgresError.self) { _ = try await nowhere.query("SELECT 1") }
        await nowhere.shutdown()
    }
}
