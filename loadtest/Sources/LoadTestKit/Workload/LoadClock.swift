import Reactor

/// A source of monotonic time in nanoseconds, injected so that schedulers are testable.
public protocol LoadClock: Sendable {
    func now() -> UInt64
}

/// The real clock: `CLOCK_MONOTONIC` through the reactor.
public struct MonotonicClock: LoadClock {
    public init() {}
    public func now() -> UInt64 { monotonicNanoseconds() }
}
