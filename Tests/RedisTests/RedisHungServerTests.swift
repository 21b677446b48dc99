import MarqueeTesting
import Reactor
import Testing

@testable import Redis

/// A Redis that hangs (SIGSTOP: the socket stays open, nothing answers): a timeout drops
/// the connection and a fresh one is made, commands waiting are bounded in number, and
/// every socket has TCP keepalive.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RedisHungServerTests {
    @Test func aTimeoutDropsTheConnectionAndANewOneIsMade() async throws {
        let server = try TestServers.privateRedis()
        defer { server.shutdown() }
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .milliseconds(300)
        let connection = RedisConnection(configuration: configuration, on: RedisTestLoops.group.loops[0])
        connection.start()
        defer { connection.close() }
        #expect(await connection.waitUntilConnected(timeout: .seconds(5)))
        let before = try await connection.send(["CLIENT", "ID"]).integer

        try server.pause()
        defer { try? server.resume() }
        let error = await #expect(throws: RedisError.self) { _ = try await connection.send(["GET", "k"]) }
        #expect(error?.code == .timedOut)
        try server.resume()

        // The server sees a new client: the old connection was dropped, not kept.
        var after: Int?
        let until = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < until {
            if let id = try? await connection.send(["CLIENT", "ID"]).integer {
                after = id
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(before != nil && after != nil && after != before, "client id \(String(describing: before)) → \(String(describing: after))")
    }

    @Test func commandsWaitingForAHungServerAreBoundedInNumber() async throws {
        let server = try TestServers.privateRedis()
        defer { server.shutdown() }
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .seconds(1)
        configuration.maxPendingCommands = 10
        let connection = RedisConnection(configuration: configuration, on: RedisTestLoops.group.loops[1])
        connection.start()
        defer { connection.close() }
        #expect(await connection.waitUntilConnected(timeout: .seconds(5)))

        try server.pause()
        defer { try? server.resume() }
        let codes = await withTaskGroup(of: RedisError.Code?.self) { group in
            for n in 0..<25 {
                group.addTask {
                    do {
                        _ = try await connection.send(["GET", "k\(n)"])
                        return nil
                    } catch {
                        return (error as? RedisError)?.code
                    }
                }
            }
            var codes: [RedisError.Code?] = []
            for await code in group { codes.append(code) }
            return codes
        }
        #expect(codes.filter { $0 == .overloaded }.count == 15, "\(codes)")
        #expect(codes.filter { $0 == .timedOut || $0 == .connectionClosed }.count == 10, "\(codes)")
    }

    @Test func theSocketHasTCPKeepalive() async throws {
        let server = try TestServers.redis()
        let connection = RedisConnection(configuration: try RedisConfiguration(url: server.url), on: RedisTestLoops.group.loops[0])
        connection.start()
        defer { connection.close() }
        #expect(await connection.waitUntilConnected(timeout: .seconds(5)))
        let keepAlive = await connection._testOnly_keepAlive()
        #expect(keepAlive?.enabled == true)
        #expect(keepAlive?.idleSeconds == 10)
    }
}
