/// The open model's schedule for one connection: request k is *intended* to go out at
/// `start + phase + k × interval`, whatever happened to request k − 1.
///
/// Latency is measured from that intended time (as wrk2 does), not from when the request
/// was actually written. So when the server stalls, the requests that should have gone out
/// during the stall are late, and their lateness is part of their latency: the stall shows
/// in the percentiles instead of being hidden by a load generator that politely waited
/// (coordinated omission). The time actually spent on the wire is reported separately as
/// the service time.
///
/// A pure struct over an injected ``LoadClock``: the worker asks ``nextAction()``, sleeps
/// when told to, and reports with ``sent()`` and ``completed(intended:sentAt:)``.
public struct OpenLoopScheduler<Clock: LoadClock>: Sendable {
    public enum Action: Equatable, Sendable {
        /// Send now; the request was intended for `intended` (≤ now: late by now − intended).
        case send(intended: UInt64)
        /// Too early: sleep until `until`, then ask again.
        case wait(until: UInt64)
        /// The next intended time is at or past the end of the run.
        case finished
    }

    /// What one completed request measured, in nanoseconds.
    public struct Timing: Equatable, Sendable {
        /// From the intended send time to the end of the response: what a user waited.
        public var latency: UInt64
        /// From the actual send to the end of the response: what the server took.
        public var serviceTime: UInt64
        /// How late the send was (latency − service time): backlog and generator lateness.
        public var lateness: UInt64
    }

    public let clock: Clock
    public let start: UInt64
    /// Nanoseconds between intended sends (fractional, so that any rate is kept on average).
    public let interval: Double
    public let phase: UInt64
    public let end: UInt64
    public private(set) var index: Int = 0

    /// - Parameters:
    ///   - rate: requests per second for this connection (> 0).
    ///   - phase: offset of this connection's first intended send, to spread connections.
    ///   - end: no request is intended at or after this time.
    public init(clock: Clock, start: UInt64, rate: Double, phase: UInt64 = 0, end: UInt64 = .max) {
        precondition(rate > 0 && rate.isFinite, "rate must be positive")
        self.clock = clock
        self.start = start
        interval = 1e9 / rate
        self.phase = phase
        self.end = end
    }

    /// The intended time of request `k` (0-based).
    public func intendedTime(of k: Int) -> UInt64 {
        start &+ phase &+ UInt64((Double(k) * interval).rounded())
    }

    /// What to do now: send (and the request's intended time), wait, or stop.
    public func nextAction() -> Action {
        let intended = intendedTime(of: index)
        if intended >= end { return .finished }
        let now = clock.now()
        return intended <= now ? .send(intended: intended) : .wait(until: intended)
    }

    /// How many requests were intended before `end` and not sent yet: the backlog a run
    /// leaves when the target could not keep up (reported, not silently dropped).
    public func owed() -> Int {
        guard end != .max else { return 0 }
        var count = 0
        while intendedTime(of: index + count) < end { count += 1 }
        return count
    }

    /// Records that the request returned by ``nextAction()`` was sent.
    public mutating func sent() {
        index += 1
    }

    /// The timing of a request intended for `intended`, actually sent at `sentAt`, complete now.
    public func completed(intended: UInt64, sentAt: UInt64) -> Timing {
        let now = clock.now()
        let latency = now > intended ? now - intended : 0
        let service = now > sentAt ? now - sentAt : 0
        return Timing(latency: latency, serviceTime: service, lateness: sentAt > intended ? sentAt - intended : 0)
    }
}
