import Testing

@testable import Redis

/// The pure parts, without sockets: state machine, pending queue, URL, SHA-1.
@Suite(.timeLimit(.minutes(5))) struct RedisConnectionStateMachineTests {
    func machine() -> RedisConnectionStateMachine {
        RedisConnectionStateMachine(initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
    }

    @Test func firstConnectAcceptsCommandsThenLossFailsFast() {
        var m = machine()
        #expect(!m.acceptsCommands)
        #expect(m.startRequested() == .startConnecting)
        #expect(m.acceptsCommands)  // hiredis buffers them until the socket is up
        #expect(m.connectSucceeded() == .none)
        #expect(m.isConnected && m.acceptsCommands)
        #expect(m.contextClosed(jitter: 1) == .scheduleReconnect(after: .milliseconds(100)))
        #expect(!m.acceptsCommands)
        #expect(m.backoffElapsed() == .startConnecting)
        #expect(m.state == .connecting(attempt: 0))
        #expect(!m.acceptsCommands)  // connected before: never queue behind a server that may be dead
    }

    @Test func backoffDoublesUpToTheCapWithJitter() {
        var m = machine()
        _ = m.startRequested()
        #expect(m.contextClosed(jitter: 1) == .scheduleReconnect(after: .milliseconds(200)))
        _ = m.backoffElapsed()
        #expect(m.contextClosed(jitter: 1) == .scheduleReconnect(after: .milliseconds(400)))
        _ = m.backoffElapsed()
        #expect(m.contextClosed(jitter: 0) == .scheduleReconnect(after: .milliseconds(400)))  // 800 * 0.5
        for _ in 0..<10 {
            _ = m.backoffElapsed()
            _ = m.contextClosed(jitter: 0)
        }
        #expect(m.backoff(attempt: 40, jitter: 1) == .seconds(1))
        #expect(m.backoff(attempt: 40, jitter: 0) == .milliseconds(500))
        _ = m.backoffElapsed()
        _ = m.connectSucceeded()
        #expect(m.state == .connected)
    }

    @Test func closedNeverReconnects() {
        var m = machine()
        _ = m.startRequested()
        _ = m.connectSucceeded()
        #expect(m.closeRequested() == .none)
        #expect(m.contextClosed(jitter: 0.5) == .none)
        #expect(m.backoffElapsed() == .none)
        #expect(!m.acceptsCommands)
    }
}

@Suite(.timeLimit(.minutes(5))) struct PendingCommandQueueTests {
    @Test func repliesInOrderAndTimeoutsAbandonEntries() {
        var q = PendingCommandQueue<String>()
        let a = q.append(deadline: 10, completion: "a")
        let b = q.append(deadline: 20, completion: "b")
        let c = q.append(deadline: 30, completion: "c")
        #expect((a, b, c) == (1, 2, 3))
        #expect(q.nextDeadline == 10)
        #expect(q.expire(now: 20) == ["a", "b"])
        #expect(q.nextDeadline == 30)
        #expect(q.complete(id: a) == nil)  // late reply of a timed-out command: dropped
        #expect(q.complete(id: b) == nil)
        #expect(q.complete(id: c) == "c")
        #expect(q.isEmpty && q.nextDeadline == nil)
        #expect(q.append(deadline: 40, completion: "d") == 4)
        #expect(q.removeAll() == ["d"])
    }

    @Test func manyEntriesCompact() {
        var q = PendingCommandQueue<Int>()
        for round in 0..<5 {
            for i in 0..<3000 { q.append(deadline: UInt64(round * 3000 + i), completion: i) }
            #expect(q.expire(now: UInt64(round * 3000 + 99)).count == 100)
            for i in 0..<2500 { _ = q.complete(id: UInt64(round * 3000 + i + 1)) }
            #expect(q.count == 500)
            for i in 2500..<3000 { #expect(q.complete(id: UInt64(round * 3000 + i + 1)) == i) }
        }
    }
}

@Suite(.timeLimit(.minutes(5))) struct RedisConfigurationTests {
    @Test func parsesURLs() throws {
        let plain = try RedisConfiguration(url: "redis://127.0.0.1:6390")
        #expect(plain.host == "127.0.0.1" && plain.port == 6390 && plain.database == 0 && plain.password == nil)
        let full = try RedisConfiguration(url: "redis://:p%40ss@cache.local:6400/3")
        #expect(full.host == "cache.local" && full.port == 6400 && full.database == 3)
        #expect(full.password == "p@ss" && full.user == nil)
        let acl = try RedisConfiguration(url: "redis://app:secret@[::1]/2")
        #expect(acl.user == "app" && acl.password == "secret" && acl.host == "::1" && acl.port == 6379)
        #expect(try RedisConfiguration(url: "redis://h").host == "h")
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "rediss://h") }
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis://h:99999") }
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis://h/x") }
    }

    @Test func errorDescriptionHidesTheMessage() {
        let error = RedisError(.server, message: "WRONGTYPE key movie:1 holds a list")
        #expect(error.serverErrorKind == "WRONGTYPE")
        #expect(!error.description.contains("movie:1"))
    }

    @Test func sha1MatchesKnownDigests() {
        #expect(SHA1.hexDigest([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hexDigest(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA1.hexDigest(long) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }
}

/// Commands as RESP bytes, and flat replies read back as values, without a server.
@Suite(.timeLimit(.minutes(5))) struct RedisWireFormTests {
    func text(_ command: RedisCommand) -> String { String(decoding: command.bytes, as: UTF8.self) }

    @Test func commandsAreEncodedAsRESP() {
        #expect(text(RedisCommand([Array("GET".utf8), Array("k".utf8)])) == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        let binary: [UInt8] = [0, 13, 10, 36]
        #expect(RedisCommand([binary, []]).bytes == Array("*2\r\n$4\r\n".utf8) + binary + Array("\r\n$0\r\n\r\n".utf8))
        var keys = RedisCommand(argumentCount: 6)
        keys.append("MGET")
        keys.append(Array("m:".utf8), [0, 7, -12, .max, .min])
        #expect(keys.isComplete)
        #expect(
            text(keys) == "*6\r\n$4\r\nMGET\r\n$3\r\nm:0\r\n$3\r\nm:7\r\n$5\r\nm:-12\r\n"
                + "$21\r\nm:9223372036854775807\r\n$22\r\nm:-9223372036854775808\r\n")
        let long = String(repeating: "x", count: 1234)
        var one = RedisCommand(argumentCount: 1)
        one.append(long)
        #expect(text(one) == "*1\r\n$1234\r\n\(long)\r\n")
    }

    @Test func onlyCompleteCommandsAreComplete() {
        var short = RedisCommand(argumentCount: 2)
        short.append("GET")
        #expect(!short.isComplete)
        short.append("k")
        #expect(short.isComplete)
        short.append("extra")
        #expect(!short.isComplete)
        #expect(!RedisCommand([]).isComplete)
    }

    typealias Item = RedisReply.Item

    /// `*3 :1 *2 $a *1 $b +OK`, then `$-1` and an error inside: the tree comes back in order.
    @Test func flatRepliesBecomeTrees() {
        let bytes = Array("abOKboom".utf8)
        let nested = RedisReply(
            bytes: bytes,
            items: [
                Item(kind: .array, value: 4, length: 0), Item(kind: .integer, value: 1, length: 0),
                Item(kind: .array, value: 2, length: 0), Item(kind: .string, value: 0, length: 1),
                Item(kind: .array, value: 1, length: 0), Item(kind: .string, value: 1, length: 1),
                Item(kind: .status, value: 2, length: 2), Item(kind: .array, value: 2, length: 0),
                Item(kind: .null, value: 0, length: 0), Item(kind: .error, value: 4, length: 4),
            ])
        #expect(
            RedisValue(nested)
                == .array([
                    .integer(1), .array([.string([UInt8(ascii: "a")]), .array([.string([UInt8(ascii: "b")])])]),
                    .status("OK"), .array([.null, .error("boom")]),
                ]))
        #expect(nested.bulkStrings() == nil)  // nested: not MGET's shape
        #expect(nested.errorMessage == nil)
        let error = RedisReply(bytes: Array("ERR x".utf8), items: [Item(kind: .error, value: 0, length: 5)])
        #expect(error.errorMessage == "ERR x")
        // Items that claim more elements than there are end as nulls, never out of bounds.
        let truncated = RedisReply(bytes: [], items: [Item(kind: .array, value: 3, length: 0)])
        #expect(RedisValue(truncated) == .array([.null, .null, .null]))
    }

    @Test func bulkStringsAreSlicesOfOneBuffer() throws {
        let reply = RedisReply(
            bytes: Array("onethree".utf8),
            items: [
                Item(kind: .array, value: 3, length: 0), Item(kind: .string, value: 0, length: 3),
                Item(kind: .null, value: 0, length: 0), Item(kind: .string, value: 3, length: 5),
            ])
        let values = try #require(reply.bulkStrings())
        #expect(values.map { $0.map { String(decoding: $0, as: UTF8.self) } } == ["one", nil, "three"])
        #expect(reply.bulkString == nil && !reply.isNull)
        let withInteger = RedisReply(
            bytes: [], items: [Item(kind: .array, value: 1, length: 0), Item(kind: .integer, value: 1, length: 0)])
        #expect(withInteger.bulkStrings() == nil)
        let single = RedisReply(bytes: Array("v".utf8), items: [Item(kind: .string, value: 0, length: 1)])
        #expect(single.bulkString == Array("v".utf8))
        #expect(RedisReply(bytes: [], items: [Item(kind: .null, value: 0, length: 0)]).isNull)
    }
}
