import MarqueeTesting
import Postgres
import Reactor
import Testing

/// The pool heals by itself when its server restarts or goes away for a while.
@Suite(.serialized, .timeLimit(.minutes(10))) struct PostgresRestartTests {
    @Test func queriesFailFastDuringAnOutageAndRecoverAfter() async throws {
        let server = try TestServers.privatePostgres()
        defer { server.shutdown() }
        let client = PostgresClient(
            configuration: try PostgresConfiguration(url: server.superuserURL), group: TestLoops.group,
            minConnections: 2, maxConnections: 4)
        defer { Task { await client.shutdown() } }
        #expect(try await client.query("SELECT 1")[0].decode(Int.self, column: 0) == 1)

        // A restart under a steady stream of queries: while the server is down they fail with a
        // connection error (never hang, never another kind of error), and once it is back they
        // succeed again on the same client.
        let load = RequestStream(
            request: { _ = try await client.query("SELECT 1") },
            isExpectedFailure: { error in
                guard let error = error as? PostgresError else { return false }
                return error.code == .connectionClosed || error.code == .connectionFailed
            })
        let problems = try await load.acrossRestart(stop: server.stop, start: server.start)
        #expect(problems.isEmpty, "\(problems)")
        let (ok, failed) = load.counts

        // A longer outage: once the pool knows the server is down, every query fails at once
        // with the pool's own "database unavailable" (nothing waits behind the dead server); the
        // outer bound only catches a hang.
        try server.stop()
        let poolSaysDown = await eventually {
            do {
                _ = try await client.query("SELECT 1")
                return false
            } catch let error as PostgresError {
                return error.code == .connectionFailed && error.message.contains("database unavailable")
            }
        }
        #expect(poolSaysDown, "the pool never answered \"database unavailable\" with the server stopped")
        let start = ContinuousClock.now
        var fastFailures = 0
        for _ in 0..<20 {
            do {
                _ = try await client.query("SELECT 1")
                Issue.record("a query succeeded with the server stopped")
            } catch let error as PostgresError {
                if error.code == .connectionFailed || error.code == .connectionClosed { fastFailures += 1 }
            }
        }
        let elapsed = ContinuousClock.now - start
        #expect(fastFailures == 20)
        #expect(elapsed < .seconds(20), "20 queries during the outage took \(elapsed)")

        try server.start()
        #expect(await eventually { try await client.query("SELECT 3")[0].decode(Int.self, column: 0) == 3 })
        // Every loop's pool recovers by itself: one that saw no query since the restart
        // does when its next reconnect probe fires (backoff up to a second), so wait for it.
        for pool in client.pools { #expect(await eventually { await pool.statistics().isDown == false }) }
        print("restart run: \(ok) ok, \(failed) failed fast; outage: 20 failures in \(elapsed)")
    }
}
