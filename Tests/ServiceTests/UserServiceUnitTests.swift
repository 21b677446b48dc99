import HTTP
import MarqueeTesting
import Reactor
import ServiceKit
import Testing

@testable import UserService

/// A hand-driven instant for ``LoginThrottle``.
struct ManualInstant: InstantProtocol {
    var offset: Duration
    func advanced(by duration: Duration) -> ManualInstant { ManualInstant(offset: offset + duration) }
    func duration(to other: ManualInstant) -> Duration { other.offset - offset }
    static func < (lhs: ManualInstant, rhs: ManualInstant) -> Bool { lhs.offset < rhs.offset }
}

@Suite(.timeLimit(.minutes(5))) struct UserServiceLoginThrottleTests {
    typealias Throttle = LoginThrottle<ManualInstant>
    let policy = LoginThrottlePolicy(
        perEmail: .init(maxFailures: 3, window: .seconds(60), lockout: .seconds(10), maxLockout: .seconds(40)),
        perClient: .init(maxFailures: 5, window: .seconds(60), lockout: .seconds(10), maxLockout: .seconds(40)),
        maxKeys: 4)
    let t0 = ManualInstant(offset: .zero)

    @Test func locksAnEmailAfterMaxFailuresAndTellsHowLong() {
        var throttle = Throttle(policy: policy)
        let keys: [Throttle.Key] = [.email("a@x.org")]
        for _ in 0..<3 { #expect(throttle.attempt(keys, now: t0) == .allowed) }
        #expect(throttle.attempt(keys, now: t0.advanced(by: .seconds(4))) == .throttled(retryAfter: .seconds(6)))
        // Refused attempts are not charged: the lock does not grow while it holds.
        #expect(throttle.check(keys, now: t0.advanced(by: .seconds(9))) == .throttled(retryAfter: .seconds(1)))
        #expect(throttle.attempt(keys, now: t0.advanced(by: .seconds(10))) == .allowed)
        // A failure right after the lock doubles it.
        #expect(throttle.check(keys, now: t0.advanced(by: .seconds(10))) == .throttled(retryAfter: .seconds(20)))
        // Another email is unaffected.
        #expect(throttle.attempt([.email("b@x.org")], now: t0) == .allowed)
    }

    @Test func anAttemptThatArrivesWithAnOlderInstantWaitsNoLongerThanTheLock() {
        // Two loops read their clocks, then take the lock in the other order: the attempt
        // counted first sets the lock from the later instant.
        var throttle = Throttle(policy: policy)
        let keys: [Throttle.Key] = [.email("a@x.org")]
        for _ in 0..<2 { #expect(throttle.attempt(keys, now: t0) == .allowed) }
        #expect(throttle.attempt(keys, now: t0.advanced(by: .seconds(3))) == .allowed)  // locked until 13 s
        #expect(throttle.attempt(keys, now: t0.advanced(by: .seconds(1))) == .throttled(retryAfter: .seconds(10)))
    }

    @Test func anUndecidedAttemptIsRefunded() {
        // Refused for capacity (503) five times: no lock, since no password was ever wrong.
        var throttle = Throttle(policy: policy)
        let keys: [Throttle.Key] = [.account(email: "a@x.org", client: "10.0.0.9"), .client("10.0.0.9")]
        for _ in 0..<6 {
            #expect(throttle.attempt(keys, now: t0) == .allowed)
            throttle.refund(keys)
        }
        #expect(throttle.check(keys, now: t0) == .allowed)
        // The email from another address is a key of its own.
        for _ in 0..<3 { _ = throttle.attempt([.account(email: "a@x.org", client: "10.0.0.8")], now: t0) }
        #expect(throttle.check(keys, now: t0) == .allowed)
    }

    @Test func lockoutDoublesUpToTheMaximum() {
        var throttle = Throttle(policy: policy)
        let keys: [Throttle.Key] = [.email("a@x.org")]
        var now = t0
        var locks: [Duration] = []
        for _ in 0..<3 { _ = throttle.attempt(keys, now: now) }
        for _ in 0..<4 {
            guard case .throttled(let wait) = throttle.check(keys, now: now) else {
                Issue.record("expected a lock")
                return
            }
            locks.append(wait)
            now = now.advanced(by: wait)
            _ = throttle.attempt(keys, now: now)
        }
        #expect(locks == [.seconds(10), .seconds(20), .seconds(40), .seconds(40)])
    }

    @Test func successClearsTheEmailButOnlyRefundsTheClient() {
        var throttle = Throttle(policy: policy)
        for i in 0..<4 {
            #expect(throttle.attempt([.email("u\(i)@x.org"), .client("10.0.0.1")], now: t0) == .allowed)
        }
        _ = throttle.attempt([.email("me@x.org"), .client("10.0.0.1")], now: t0)  // 5th: the client locks
        throttle.succeeded(email: "me@x.org", client: "10.0.0.1")  // refunds the 5th charge only
        #expect(throttle.check([.client("10.0.0.1")], now: t0) == .allowed)
        #expect(throttle.attempt([.email("u9@x.org"), .client("10.0.0.1")], now: t0) == .allowed)
        #expect(throttle.check([.client("10.0.0.1")], now: t0) == .throttled(retryAfter: .seconds(10)))
    }

    @Test func failuresOutsideTheWindowStartAFreshCount() {
        var throttle = Throttle(policy: policy)
        let keys: [Throttle.Key] = [.email("a@x.org")]
        _ = throttle.attempt(keys, now: t0)
        _ = throttle.attempt(keys, now: t0)
        #expect(throttle.attempt(keys, now: t0.advanced(by: .seconds(61))) == .allowed)
        #expect(throttle.check(keys, now: t0.advanced(by: .seconds(61))) == .allowed)
    }

    @Test func theTableStaysBounded() {
        var throttle = Throttle(policy: policy)
        for i in 0..<10 { _ = throttle.attempt([.email("spray\(i)@x.org")], now: t0) }
        #expect(throttle.trackedKeys == 4)
        // Once the old keys expire, new ones are tracked again.
        _ = throttle.attempt([.email("late@x.org")], now: t0.advanced(by: .seconds(120)))
        #expect(throttle.trackedKeys == 1)
    }
}

@Suite(.timeLimit(.minutes(5))) struct UserServiceRelayPartsTests {
    @Test func backoffDoublesToItsCeilingWithBoundedJitter() {
        let backoff = RetryBackoff(initial: .milliseconds(100), maximum: .seconds(1))
        #expect((1...6).map { backoff.ceiling(afterFailures: $0) } == [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1),
        ])
        #expect(backoff.delay(afterFailures: 3, random: 0) == .milliseconds(200))
        #expect(backoff.delay(afterFailures: 3, random: 1) == .milliseconds(400))
        #expect(backoff.ceiling(afterFailures: 10_000) == .seconds(1))
    }

    @Test func retryAfterRoundsUpToWholeSeconds() {
        #expect(LoginThrottler.retryAfterSeconds(.milliseconds(1)) == 1)
        #expect(LoginThrottler.retryAfterSeconds(.seconds(3)) == 3)
        #expect(LoginThrottler.retryAfterSeconds(.milliseconds(3001)) == 4)
    }

    @Test func clientAddressBelievesForwardedHeadersOnlyFromTrustedPeers() throws {
        let loop = try EventLoopGroupHolder.shared().loops[0]
        func request(peer: String, headers: HTTPHeaders) -> HTTPServerRequest {
            HTTPServerRequest(
                head: HTTPRequestHead(method: .POST, target: "/api/auth/login", headers: headers),
                body: HTTPRequestBody(bytes: []), remoteAddress: SocketAddress(numericHost: peer, port: 1234),
                loop: loop)
        }
        let addresses = ClientAddress(trusted: ["127.0.0.1", "10.1.0.0/16"])
        #expect(addresses.resolve(request(peer: "127.0.0.1", headers: ["X-Real-IP": "203.0.113.9"])) == "203.0.113.9")
        #expect(addresses.resolve(request(peer: "10.1.2.3", headers: ["X-Forwarded-For": "1.1.1.1, 198.51.100.7"]))
            == "198.51.100.7")
        #expect(addresses.resolve(request(peer: "10.2.0.1", headers: ["X-Real-IP": "203.0.113.9"])) == "10.2.0.1")
        #expect(addresses.resolve(request(peer: "127.0.0.1", headers: ["X-Real-IP": "<script>"])) == "127.0.0.1")
        #expect(addresses.resolve(request(
            peer: "127.0.0.1", headers: ["X-Forwarded-For": "6.6.6.6, 198.51.100.8", "X-Real-IP": "6.6.6.6"]))
            == "198.51.100.8", "the gateway's own entry wins over what a client claimed")
    }
}

