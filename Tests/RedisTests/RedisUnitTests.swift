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
