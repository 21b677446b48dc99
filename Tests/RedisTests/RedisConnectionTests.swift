import MarqueeTesting
import Reactor
import Testing

@testable import Redis

/// One loop group for the Redis suites (creating loops per test would leak threads).
enum RedisTestLoops {
    static let group = try! EventLoopGroup(loopCount: 2)
}

/// Against the shared throw-away Redis: commands, pipelining, binary values, scripts, timeouts.
@Suite(.timeLimit(.minutes(10))) struct RedisConnectionTests {
    let server: TestRedis
    let client: RedisClient

    init() async throws {
        server = try TestServers.redis()
        client = RedisClient(configuration: try RedisConfiguration(url: server.url), group: RedisTestLoops.group)
        #expect(await client.waitUntilConnected(timeout: .seconds(5)))
    }

    func key(_ name: String) -> String { "test:\(name):\(UInt32.random(in: 0...UInt32.max))" }

    @Test func pingGetSetDel() async throws {
        defer { client.close() }
        try await client.ping()
        let k = key("basic")
        #expect(try await client.get(k) == nil)
        try await client.set(k, Array("hello".utf8))
        #expect(try await client.get(k) == Array("hello".utf8))
        #expect(try await client.del([k, key("absent")]) == 1)
        #expect(try await client.get(k) == nil)
    }

    @Test func setWithExpiry() async throws {
        defer { client.close() }
        let k = key("ttl")
        try await client.set(k, [1, 2, 3], expireSeconds: 60)
        let ttl = try await client.send(["TTL", k]).integer ?? -1
        #expect((1...60).contains(ttl))
        try await client.set(k, [1], expireSeconds: 1)
        try await Task.sleep(for: .milliseconds(1200))
        #expect(try await client.get(k) == nil)
    }

    /// Many commands in flight on one connection from tasks on its own loop, and the
    /// `pipeline` form: every reply reaches its own caller.
    @Test func pipelinedCommandsEachGetTheirOwnReply() async throws {
        defer { client.close() }
        let prefix = key("pipe")
        let loop = RedisTestLoops.group.loops[0]
        let connection = client.connections[0]
        try await withTaskExecutorPreference(loop) { @concurrent in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<2000 {
                    group.addTask {
                        try await connection.set("\(prefix):\(i)", Array("v\(i)".utf8))
                        let value = try await connection.get("\(prefix):\(i)")
                        #expect(value == Array("v\(i)".utf8))
                    }
                }
                try await group.waitForAll()
            }
        }
        let commands = (0..<500).map { [Array("GET".utf8), Array("\(prefix):\($0)".utf8)] }
        let results = await client.pipeline(commands + [[Array("INCR".utf8), Array("\(prefix):0".utf8)]])
        #expect(results.count == 501)
        for i in 0..<500 { #expect(try results[i].get() == .string(Array("v\(i)".utf8))) }
        guard case .failure(let error) = results[500] else {
            Issue.record("INCR of a non-number must fail")
            return
        }
        #expect(error.code == .server)
        _ = try await client.del((0..<2000).map { "\(prefix):\($0)" })
    }

    @Test func mgetWithMissingKeys() async throws {
        defer { client.close() }
        let a = key("a")
        let b = key("b")
        try await client.set(a, Array("A".utf8))
        try await client.set(b, [])
        let values = try await client.mget([a, key("missing"), b, key("missing2")])
        #expect(values == [Array("A".utf8), nil, [], nil])
        #expect(try await client.mget([]) == [])
        try await client.del([a, b])
    }

    /// Replies nested in replies (a script's tables), nils and errors inside arrays, and an
    /// `MGET` read as slices: the reader's flat buffers give back every value in its place.
    @Test func nestedRepliesAndFlatMGET() async throws {
        defer { client.close() }
        let script = "return {1, {'a', {'b', false}}, 'c', redis.status_reply('OK'), redis.error_reply('E1 x')}"
        let expected = RedisValue.array([
            .integer(1), .array([.string(Array("a".utf8)), .array([.string(Array("b".utf8)), .null])]),
            .string(Array("c".utf8)), .status("OK"), .error("E1 x"),
        ])
        for _ in 0..<3 { #expect(try await client.eval(script: script) == expected) }
        let a = key("flat-a")
        let b = key("flat-b")
        try await client.set(a, Array("first".utf8))
        try await client.set(b, (0...255).map { UInt8($0) })
        var command = RedisCommand(argumentCount: 4)
        command.append("MGET")
        command.append(a)
        command.append(key("flat-missing"))
        command.append(b)
        let reply = try await client.send(command)
        let values = try #require(reply.bulkStrings())
        #expect(values.map { $0.map(Array.init) } == [Array("first".utf8), nil, (0...255).map { UInt8($0) }])
        // A command missing an argument is refused before it is sent; the connection goes on.
        var short = RedisCommand(argumentCount: 2)
        short.append("GET")
        do {
            _ = try await client.send(short)
            Issue.record("an incomplete command must not be sent")
        } catch let error as RedisError {
            #expect(error.code == .protocolError)
        }
        #expect(try await client.get(a) == Array("first".utf8))
        try await client.del([a, b])
    }

    @Test func binaryValuesRoundTrip() async throws {
        defer { client.close() }
        let k = key("bin\r\n \0x")
        var value = (0...255).map { UInt8($0) }
        value += Array("\r\n$-1\r\n*2\r\n".utf8) + [0, 0, 0]
        try await client.set(k, value)
        #expect(try await client.get(k) == value)
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await client.set(k, big)
        #expect(try await client.get(k) == big)
        try await client.del([k])
    }

    @Test func scriptsAndInfo() async throws {
        defer { client.close() }
        let script = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}"
        let expected = RedisValue.array([.string(Array("k".utf8)), .string(Array("a".utf8)), .integer(42)])
        #expect(
            try await client.eval(script: script, keys: ["k"], args: [Array("a".utf8), Array("41".utf8)]) == expected)
        let sha = try await client.scriptLoad(script)
        #expect(sha == SHA1.hexDigest(Array(script.utf8)))
        #expect(try await client.evalsha(sha: sha, keys: ["k"], args: [Array("a".utf8), Array("41".utf8)]) == expected)
        // Unknown script: EVALSHA fails with NOSCRIPT, evalCached falls back to EVAL.
        let fresh = "return 'fresh-\(UInt32.random(in: 0...UInt32.max))'"
        do {
            _ = try await client.evalsha(sha: SHA1.hexDigest(Array(fresh.utf8)))
            Issue.record("EVALSHA of an unknown script must fail")
        } catch let error as RedisError {
            #expect(error.serverErrorKind == "NOSCRIPT")
        }
        #expect(try await client.evalCached(script: fresh).text?.hasPrefix("fresh-") == true)
        #expect(try await client.evalCached(script: fresh).text?.hasPrefix("fresh-") == true)
        let info = try await client.info(section: "server")
        #expect(info.contains("redis_version:"))
    }

    @Test func serverErrorsAreThrownAndTheConnectionGoesOn() async throws {
        defer { client.close() }
        do {
            _ = try await client.send(["NOSUCHCOMMAND"])
            Issue.record("an unknown command must fail")
        } catch let error as RedisError {
            #expect(error.code == .server)
        }
        try await client.ping()
    }

    /// A command with no reply within the timeout fails with `.timedOut`; its late reply is
    /// dropped and the connection keeps working. (Debian's Redis 7 refuses DEBUG SLEEP, so
    /// BLPOP on an empty list blocks the server-side client instead.)
    @Test func commandTimeout() async throws {
        defer { client.close() }
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .milliseconds(200)
        let connection = RedisConnection(configuration: configuration, on: RedisTestLoops.group.loops[1])
        connection.start()
        defer { connection.close() }
        #expect(await connection.waitUntilConnected(timeout: .seconds(5)))
        let start = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) {
            _ = try await connection.send(["BLPOP", key("empty"), "1"])
        }
        #expect(error?.code == .timedOut)
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(3))
        // The server answers BLPOP (nil) after 1 s; that reply must be dropped, not given to PING.
        try await Task.sleep(for: .milliseconds(1000))
        try await connection.ping()
        #expect(try await connection.send(["ECHO", "x"]) == .string(Array("x".utf8)))
        #expect(connection.isConnected)
    }

    @Test func unreachableServerFailsFastAndNeverHangs() async throws {
        defer { client.close() }
        // Port 1 on loopback: nothing listens there (privileged), connect is refused at once.
        var configuration = try RedisConfiguration(url: "redis://127.0.0.1:1")
        // Far longer than the bound below: a command that waited for its timeout would fail it.
        configuration.commandTimeout = .seconds(20)
        let connection = RedisConnection(configuration: configuration, on: RedisTestLoops.group.loops[0])
        connection.start()
        defer { connection.close() }
        for _ in 0..<5 {
            let start = ContinuousClock.now
            do {
                try await connection.ping()
                Issue.record("PING to a closed port must fail")
            } catch let error as RedisError {
                #expect(error.code == .notConnected || error.code == .connectionClosed)
            }
            #expect(ContinuousClock.now - start < .seconds(3), "failed fast, not after the command timeout")
        }
        #expect(!connection.isConnected)
    }
}

@Suite(.timeLimit(.minutes(10))) struct RedisHostNameTests {
    /// hiredis would resolve a host name with a blocking lookup inside redisAsyncConnect, on
    /// the loop; the connection resolves it off the loop first and connects by address.
    @Test func aHostNameIsResolvedBeforeHiredisConnects() async throws {
        let server = try TestServers.redis()
        let url = server.url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        #expect(url.contains("localhost"))
        let client = RedisClient(configuration: try RedisConfiguration(url: url), group: RedisTestLoops.group)
        defer { client.close() }
        #expect(await client.waitUntilConnected(timeout: .seconds(5)))
        try await client.set("hostname-test", Array("ok".utf8))
        #expect(try await client.get("hostname-test") == Array("ok".utf8))
    }
}
