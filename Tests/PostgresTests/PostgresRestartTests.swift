import MarqueeTesting
import Postgres
import Reactor
import Synchronization
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
        let load = QueryStream(client: client)
        let stream = Task { await load.run() }
        #expect(await eventually { load.counts.ok > 0 }, "no query succeeded before the restart")
        try server.stop()
        #expect(await eventually { load.counts.failed > 0 }, "queries kept succeeding with the server stopped")
        let okWhileDown = load.counts.ok
        try server.start()
        #expect(await eventually { load.counts.ok > okWhileDown }, "no query succeeded after the restart")
        stream.cancel()
        await stream.value
        #expect(load.unexpectedErrors.isEmpty, "\(load.unexpectedErrors)")
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

/// Runs `SELECT 1` on `client` until cancelled, counting successes and connection failures;
/// any other error is kept (a restart must produce only connection errors).
final class QueryStream: Sendable {
    let client: PostgresClient
    private let state = Mutex<(ok: Int, failed: Int, unexpected: [String])>((0, 0, []))

    init(client: PostgresClient) { self.client = client }

    var counts: (ok: Int, failed: Int) { state.withLock { ($0.ok, $0.failed) } }
    var unexpectedErrors: [String] { state.withLock { $0.unexpected } }

    func run() async {
        while !Task.isCancelled {
            do {
                _ = try await client.query("SELECT 1")
                state.withLock { $0.ok += 1 }
            } catch let error as PostgresError where error.code == .connectionClosed || error.code == .connectionFailed {
                state.withLock { $0.failed += 1 }
                try? await Task.sleep(for: .milliseconds(5))
            } catch {
                state.withLock { $0.unexpected.append("\(error)") }
            }
        }
    }
}
