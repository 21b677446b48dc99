/// Which instance of an upstream gets the next request, and which instances are out:
/// a pure state machine (time passed in), wrapped by ``UpstreamGroup`` for the loops.
///
/// Passive ejection: `ejectAfter` consecutive failures (connect errors, timeouts, 502-504
/// answers) eject an instance for `ejectionTime`, doubled on each ejection that follows
/// without a success in between (at most 16×). An ejected instance comes back when the
/// active `/health` probe succeeds, or on trial when its ejection time is over (then one
/// more failure ejects it again for longer). When every instance is out, requests go to
/// all of them anyway ("panic" routing, as Envoy does): trying is better than refusing
/// when the whole upstream may have come back before the probe noticed.
public struct UpstreamBalancer: Sendable {
    public enum Policy: Sendable {
        case roundRobin
        case leastLoaded
    }

    public struct Instance: Sendable, Equatable {
        public var consecutiveFailures = 0
        /// Ejected until this monotonic time; nil when admitted.
        public var ejectedUntil: UInt64?
        /// Ejections in a row without a success: scales the next ejection time.
        public var ejections = 0
        /// Requests in flight (least-loaded's measure).
        public var inFlight = 0
    }

    public let policy: Policy
    public let ejectAfter: Int
    public let ejectionTime: UInt64
    public private(set) var instances: [Instance]
    private var cursor = 0

    public init(count: Int, policy: Policy, ejectAfter: Int, ejectionTime: Duration) {
        precondition(count > 0, "an upstream needs at least one instance")
        self.policy = policy
        self.ejectAfter = max(1, ejectAfter)
        self.ejectionTime = UInt64(max(0, ejectionTime.nanoseconds))
        instances = Array(repeating: Instance(), count: count)
    }

    /// Whether instance `index` takes requests at `now` (admitted, or its ejection is over).
    public func isAdmitted(_ index: Int, now: UInt64) -> Bool {
        guard let until = instances[index].ejectedUntil else { return true }
        return until <= now
    }

    /// Picks an instance for a request and counts it in flight; `excluding` an instance
    /// already tried for this request (when another is available).
    public mutating func select(now: UInt64, excluding: Int? = nil) -> Int {
        let count = instances.count
        // Two passes without allocating: admitted instances first, then (panic routing)
        // any instance; in each, round-robin order from the cursor, and for least-loaded
        // the one with the fewest requests in flight (ties: round-robin order).
        var chosen = -1
        for pass in 0..<2 where chosen < 0 {
            for offset in 0..<count {
                let index = (cursor + offset) % count
                if index == excluding && count > 1 { continue }
                if pass == 0 && !isAdmitted(index, now: now) { continue }
                if chosen < 0 {
                    chosen = index
                    if policy == .roundRobin { break }
                } else if instances[index].inFlight < instances[chosen].inFlight {
                    chosen = index
                }
            }
        }
        cursor = (chosen + 1) % count
        instances[chosen].inFlight += 1
        return chosen
    }

    /// A request to `index` finished (whatever its outcome): it is no longer in flight.
    public mutating func finished(_ index: Int) {
        instances[index].inFlight = max(0, instances[index].inFlight - 1)
    }

    /// The instance answered: failures are forgotten and an ejection ends.
    public mutating func succeeded(_ index: Int) {
        instances[index].consecutiveFailures = 0
        instances[index].ejectedUntil = nil
        instances[index].ejections = 0
    }

    /// The instance failed. - Returns: true when this ejected it.
    @discardableResult
    public mutating func failed(_ index: Int, now: UInt64) -> Bool {
        instances[index].consecutiveFailures += 1
        let instance = instances[index]
        // A failure on trial (ejection over, no success since) ejects again at once.
        let onTrial = instance.ejectedUntil.map { $0 <= now } ?? false
        guard onTrial || (instance.ejectedUntil == nil && instance.consecutiveFailures >= ejectAfter) else {
            return false
        }
        let factor = UInt64(1) << UInt64(min(instance.ejections, 4))
        instances[index].ejectedUntil = now &+ ejectionTime &* factor
        instances[index].ejections += 1
        return true
    }

    /// The active probe's verdict: success re-admits at once, failure counts as a failure.
    @discardableResult
    public mutating func probed(_ index: Int, healthy: Bool, now: UInt64) -> Bool {
        if healthy {
            let wasEjected = instances[index].ejectedUntil != nil
            succeeded(index)
            return wasEjected
        }
        return failed(index, now: now)
    }
}
