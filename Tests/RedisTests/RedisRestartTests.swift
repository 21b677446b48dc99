import MarqueeTesting
import Reactor
import Testing

@testable import Redis

/// A private Redis that goes away and comes back: pending commands fail (never hang),
/// commands during the outage fail fast, and the same client works again afterwards.
@Suite(.serialized, .timeLimit(.minutes(10))) struct RedisRestartTests {
    @Test func pendingCommandsFailOnRestartAndLaterCommandsSucceed() async throws {
        let server = try TestServers.privateRedis()
        defer { server.shutdown() }
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .seconds(20)  // longer than the test: only the drop may end them
        let client = RedisClient(configuration: configuration, group: RedisTestLoops.group)
        defer { client.close() }
        #expect(await client.waitUntilConnected(timeout: .seconds(5)))
        try await client.set("k", Array("before".utf8))

        // Commands in flight on both connections: BLPOP blocks server-side for 10 s.
        let inFlight = Task {
            await withTaskGroup(of: RedisError?.self) { group in
                for connection in client.connections {
                    for n in 0..<3 {
                        group.addTask {
                            do {
                                _ = try await connection.send(["BLPOP", "empty:\(n)", "10"])
                                return nil
                            } catch {
                                return error as? RedisError
                            }
                        }
                    }
                }
                var errors: [RedisError?] = []
                for await error in group { errors.append(error) }
                return errors
            }
        }
        // Redis blocks a connection on its first BLPOP (the others wait behind it, in order).
        let blocking = "blocked_clients:\(client.connections.count)"
        let blocked = await eventually { (try? server.cli("info", "clients"))?.contains(blocking) == true }
        #expect(blocked, "the BLPOPs never blocked every connection on the server")
        try server.stop()
        let errors = await inFlight.value
        #expect(errors.count == 6)
        // Ended by the drop: BLPOP's own end (after 10 s) would be a nil reply, not an error.
        #expect(errors.allSatisfy { $0?.code == .connectionClosed })

        // While down: fail fast, not queued.
        #expect(await eventually { !client.isConnected })
        for _ in 0..<10 {
            let start = ContinuousClock.now
            let error = await #expect(throws: RedisError.self) { _ = try await client.get("k") }
            #expect(error?.code == .notConnected || error?.code == .connectionClosed)
            // The cause is the code above (a queued command would end in the 20 s command
            // timeout); the bound, half that timeout, only catches a command that waited.
            #expect(ContinuousClock.now - start < .seconds(10))
        }

        // Back up (empty: no persistence): the same client reconnects by itself.
        try server.start()
        #expect(await client.waitUntilConnected(timeout: .seconds(10)))
        #expect(try await client.get("k") == nil)
        try await client.set("k", Array("after".utf8))
        #expect(try await client.get("k") == Array("after".utf8))

        // And a restart with commands streaming: while the server is down they fail (never
        // hang), and once it is back the same client serves them again.
        let stream = RequestStream(request: { _ = try await client.get("k") })
        let problems = try await stream.acrossRestart(stop: server.stop, start: server.start)
        #expect(problems.isEmpty, "\(problems)")
        #expect(await client.waitUntilConnected(timeout: .seconds(10)))
        try await client.ping()
    }

    @Test func authAndDatabaseFromTheURL() async throws {
        let server = try TestServers.privateRedis()
        defer { server.shutdown() }
        #expect(try server.cli("config", "set", "requirepass", "s3cret@x") == "OK")
        let url = "redis://:s3cret%40x@127.0.0.1:\(server.port)/3"
        let client = RedisClient(configuration: try RedisConfiguration(url: url), group: RedisTestLoops.group)
        defer { client.close() }
        #expect(await client.waitUntilConnected(timeout: .seconds(5)))
        try await client.set("in-db-3", Array("yes".utf8))
        #expect(try server.cli("-a", "s3cret@x", "--no-auth-warning", "-n", "3", "get", "in-db-3") == "yes")
        #expect(try server.cli("-a", "s3cret@x", "--no-auth-warning", "-n", "0", "exists", "in-db-3") == "0")

        // A wrong password: AUTH fails, commands fail; nothing hangs.
        var wrong = try RedisConfiguration(url: "redis://:nope@127.0.0.1:\(server.port)")
        wrong.commandTimeout = .milliseconds(500)
        let bad = RedisConnection(configuration: wrong, on: RedisTestLoops.group.loops[0])
        bad.start()
        defer { bad.close() }
        for _ in 0..<3 {
            let error = await #expect(throws: RedisError.self) { try await bad.ping() }
            #expect(error != nil)
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
