import Synchronization

/// The service's one ``LoginThrottle``, shared by every loop behind a lock.
///
/// Why one table for the process and not one per loop: the kernel spreads connections over
/// the loops (SO_REUSEPORT), so per-loop tables would give an attacker `LOOPS` times the
/// attempts. A login costs a scrypt computation anyway; one uncontended lock is nothing
/// beside it. May be called from any thread.
public final class LoginThrottler: Sendable {
    public typealias Throttle = LoginThrottle<ContinuousClock.Instant>

    // Lock rule: `state` is only touched inside `withLock`, never across an await.
    private let state: Mutex<Throttle>
    private let clock = ContinuousClock()

    public init(policy: LoginThrottlePolicy = .standard) {
        state = Mutex(Throttle(policy: policy))
    }

    /// The email's key is per client address when the address is known (see ``LoginThrottle``).
    static func keys(email: String, client: String?) -> [Throttle.Key] {
        guard let client else { return [.email(email)] }
        return [.account(email: email, client: client), .client(client)]
    }

    /// Starts an attempt (see ``LoginThrottle/attempt(_:now:)``): nil when it may go ahead
    /// (and is now counted as a failure until ``succeeded(email:client:)``), else how long
    /// to wait.
    public func attempt(email: String, client: String?) -> Duration? {
        let clock = self.clock
        let decision = state.withLock { $0.attempt(Self.keys(email: email, client: client), now: clock.now) }
        if case .throttled(let retryAfter) = decision { return retryAfter }
        return nil
    }

    /// Returns the charge of an attempt that was not decided (see ``LoginThrottle/refund(_:)``).
    public func refund(email: String, client: String?) {
        state.withLock { $0.refund(Self.keys(email: email, client: client)) }
    }

    public func succeeded(email: String, client: String?) {
        state.withLock { $0.succeeded(email: email, client: client) }
    }

    /// Whole seconds for `Retry-After`, rounded up so a client that waits that long gets in.
    public static func retryAfterSeconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) + (attoseconds > 0 ? 1 : 0))
    }
}
