import Testing

@testable import MovieService

/// A clock whose time only moves when a test says so.
struct ManualClock: Clock {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }
    var now: Instant { Instant(offset: .zero) }
    var minimumResolution: Duration { .nanoseconds(1) }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws {}
}

/// The cache's breaker walked through time without sockets or sleeping.
@Suite(.timeLimit(.minutes(10))) struct CircuitBreakerTests {
    typealias Breaker = CircuitBreaker<ManualClock>
    let policy = Breaker.Policy(failureThreshold: 3, openDuration: .milliseconds(500), probeTimeout: .seconds(2))

    func at(_ milliseconds: Int) -> ManualClock.Instant { ManualClock.Instant(offset: .milliseconds(milliseconds)) }

    @Test func oneTimeoutOpensAndCallsAreRefusedUntilTheProbe() {
        var breaker = Breaker(policy: policy)
        #expect(breaker.callRequested(now: at(0)) == .allow)
        breaker.callFailed(.timeout, now: at(500))
        #expect(!breaker.isClosed)
        #expect(breaker.callRequested(now: at(501)) == .refuse)
        #expect(breaker.callRequested(now: at(999)) == .refuse)
        #expect(breaker.callRequested(now: at(1000)) == .probe)
        // While the probe is out, everyone else is still refused.
        #expect(breaker.callRequested(now: at(1001)) == .refuse)
        breaker.callSucceeded()
        #expect(breaker.isClosedAndClean)
        #expect(breaker.callRequested(now: at(1002)) == .allow)
    }

    @Test func fastFailuresOpenOnlyAfterTheThresholdInARow() {
        var breaker = Breaker(policy: policy)
        breaker.callFailed(.error, now: at(0))
        breaker.callFailed(.error, now: at(1))
        breaker.callSucceeded()  // resets the count
        breaker.callFailed(.error, now: at(2))
        breaker.callFailed(.error, now: at(3))
        #expect(breaker.isClosed && !breaker.isClosedAndClean)
        breaker.callFailed(.error, now: at(4))
        #expect(!breaker.isClosed)
        #expect(breaker.callRequested(now: at(5)) == .refuse)
    }

    @Test func aFailedProbeOpensAgainForAWholePeriod() {
        var breaker = Breaker(policy: policy)
        breaker.callFailed(.timeout, now: at(0))
        #expect(breaker.callRequested(now: at(500)) == .probe)
        breaker.callFailed(.timeout, now: at(1000))
        #expect(breaker.state == .open(until: at(1500)))
        #expect(breaker.callRequested(now: at(1499)) == .refuse)
        #expect(breaker.callRequested(now: at(1500)) == .probe)
    }

    @Test func lateOutcomesOfCallsFromBeforeTheOpeningChangeNothing() {
        var breaker = Breaker(policy: policy)
        breaker.callFailed(.timeout, now: at(0))
        breaker.callSucceeded()  // a call admitted before the opening answered late
        #expect(breaker.state == .open(until: at(500)))
        breaker.callFailed(.timeout, now: at(400))  // and one that timed out late
        #expect(breaker.state == .open(until: at(500)))
    }

    @Test func aProbeThatNeverReportsIsReplaced() {
        var breaker = Breaker(policy: policy)
        breaker.callFailed(.timeout, now: at(0))
        #expect(breaker.callRequested(now: at(500)) == .probe)
        #expect(breaker.callRequested(now: at(2499)) == .refuse)
        #expect(breaker.callRequested(now: at(2500)) == .probe)
    }
}
