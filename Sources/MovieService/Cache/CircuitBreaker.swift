/// When to stop asking a dependency that does not answer, and when to try it again: the
/// classic closed → open → half-open breaker, as a pure value generic over a clock, so
/// that tests walk it through time without sleeping or sockets.
///
/// - closed: every call goes through. A call that timed out opens the breaker at once (a
///   hung server makes every caller wait the full timeout, so one is enough); other
///   failures (refused, dropped, overloaded) open it after ``Policy/failureThreshold`` in
///   a row. A success resets the count.
/// - open: calls are refused without asking (the caller falls back) until
///   ``Policy/openDuration`` has passed.
/// - half-open: one call, the probe, goes through; the others are still refused. Its success
///   closes the breaker, its failure opens it again. A probe that never reports (its caller
///   went away) is replaced after ``Policy/probeTimeout``.
struct CircuitBreaker<C: Clock> where C.Duration == Duration {
    struct Policy: Sendable, Equatable {
        var failureThreshold = 5
        var openDuration: Duration = .milliseconds(500)
        var probeTimeout: Duration = .seconds(2)
    }

    enum State: Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: C.Instant)
        case halfOpen(probeStarted: C.Instant)
    }

    enum Failure: Equatable {
        /// No answer within the timeout: the dependency hangs.
        case timeout
        /// Refused, dropped, or too busy: it answered, badly or not at all, but quickly.
        case error
    }

    enum Decision: Equatable {
        case allow
        /// Allowed as the half-open probe.
        case probe
        case refuse
    }

    let policy: Policy
    private(set) var state = State.closed(consecutiveFailures: 0)

    init(policy: Policy = Policy()) {
        precondition(policy.failureThreshold >= 1 && policy.openDuration > .zero && policy.probeTimeout > .zero)
        self.policy = policy
    }

    /// Closed with no failure counted: the state in which a success changes nothing.
    var isClosedAndClean: Bool { state == .closed(consecutiveFailures: 0) }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Whether a call may go to the dependency now.
    mutating func callRequested(now: C.Instant) -> Decision {
        switch state {
        case .closed:
            return .allow
        case .open(let until):
            guard now >= until else { return .refuse }
            state = .halfOpen(probeStarted: now)
            return .probe
        case .halfOpen(let started):
            guard now >= started.advanced(by: policy.probeTimeout) else { return .refuse }
            state = .halfOpen(probeStarted: now)
            return .probe
        }
    }

    /// A call answered. In half-open, any answer (the probe's, or a late one's) closes the
    /// breaker; while open, a late answer from before changes nothing.
    mutating func callSucceeded() {
        switch state {
        case .closed, .halfOpen: state = .closed(consecutiveFailures: 0)
        case .open: break
        }
    }

    /// A call failed. While open, a late failure from before does not extend the opening.
    mutating func callFailed(_ failure: Failure, now: C.Instant) {
        switch state {
        case .closed(let failures):
            let count = failures + 1
            if failure == .timeout || count >= policy.failureThreshold {
                state = .open(until: now.advanced(by: policy.openDuration))
            } else {
                state = .closed(consecutiveFailures: count)
            }
        case .halfOpen:
            state = .open(until: now.advanced(by: policy.openDuration))
        case .open:
            break
        }
    }
}
