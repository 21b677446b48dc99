/// Exponential backoff for redelivery: `initial · 2^(failures-1)`, capped at `maximum`,
/// with "equal jitter" (half fixed, half random) so that several replicas that failed
/// together do not retry in lock-step. Pure: the random part is passed in.
public struct RetryBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(30)) {
        precondition(initial > .zero && maximum >= initial)
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt after `failures` consecutive failures (≥ 1),
    /// without jitter.
    public func ceiling(afterFailures failures: Int) -> Duration {
        var delay = initial
        var remaining = max(0, failures - 1)
        while remaining > 0 && delay < maximum {
            delay = delay * 2
            remaining -= 1
        }
        return min(delay, maximum)
    }

    /// The delay with jitter: `ceiling/2 + ceiling/2 · random`, `random` in 0...1.
    public func delay(afterFailures failures: Int, random: Double) -> Duration {
        let ceiling = ceiling(afterFailures: failures)
        let clamped = min(max(random, 0), 1)
        return ceiling / 2 + (ceiling / 2) * clamped
    }
}
