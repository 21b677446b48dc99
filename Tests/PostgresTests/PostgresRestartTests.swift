import MarqueeTesting
import Postgres
import Reactor
import Testing

/// The pool heals by itself when its server restarts or goes away for a while.
@Suite(.serialized) struct PostgresRestartTests {
    @Test func queriesFailFastDuringAnOutageAndRecoverAfter() async throws {
        let server = try TestServers.privatePostgres()
        defer { server.shutdown() }
        let client = PostgresClient(
            configuration: try PostgresConfiguration(url: server.superuserURL), group: TestLoops.group,
            minConnections: 2, maxConnections: 4)
        defer { Task { await client.shutdown() } }
        #expect(try await client.query("SELECT 1")[0].decode(Int.self, column: 0) == 1)

        // A restart in the middle of a run: queries in flight fail, later ones succeed again.
        let load = Task {
            var (ok, failed) = (0, 0)
            let deadline = ContinuousClock.now + .seconds(4)
            while ContinuousClock.now < deadline {
                do {
                    _ = try await client.query("SELECT 1")
                    ok += 1
                } catch let error as PostgresError {
                    #expect(error.code == .connectionClosed || error.code == .connectionFailed, "\(error)")
                    failed += 1
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            return (ok, failed)
        }
        try await Task.sleep(for: .milliseconds(500))
        try server.restart()
        let (ok, failed) = try await load.value
        #expect(ok > 0)
        #expect(try await eventually { try await client.query("SELECT 2")[0].decode(Int.self, column: 0) == 2 })

        // A longer outage: every query fails fast (no waiting behind the dead server).
        try server.stop()
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        var fastFailures = 0
        for _ in 0..<20 {
            do { _ = try await client.query("SELECT 1") } catch let error as PostgresError {
                if error.code == .connectionFailed || error.code == .connectionClosed { fastFailures += 1 }
            }
        }
        let elapsed = ContinuousClock.now - start
        #expect(fastFailures == 20)
        #expect(elapsed < .seconds(2), "20 queries during the outage took \(elapsed)")

        try server.start()
        #expect(try await eventually { try await client.query("SELECT 3")[0].decode(Int.self, column: 0) == 3 })
        // Every loop's pool recovers by itself: one that saw no query since the restart
        // does when its next reconnect probe fires (backoff up to a second), so wait for it.
        for pool in client.pools { #expect(try await eventually { await pool.statistics().isDown == false }) }
        print("restart run: \(ok) ok, \(failed) failed fast; outage: 20 failures in \(elapsed)")
    }
}

/// Retries `body` for up to `timeout` until it returns true.
func eventually(timeout: Duration = .seconds(5), _ body: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if (try? await body()) == true { return true }
        if ContinuousClock.now > deadline { return false }
        try await Task.sleep(for: .milliseconds(50))
    }
}
