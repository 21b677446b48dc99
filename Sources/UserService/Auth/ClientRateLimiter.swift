import Synchronization

/// A token bucket per client address for the endpoints that cost a password hash (sign-up
/// and login): one address may start at most `rate` of them per second (bursts of `burst`),
/// so that no single client can fill the hashing queue that every other client's login
/// waits in. 429 with `Retry-After` past it.
///
/// One table for the process behind a lock (as ``LoginThrottler``, for the same reason);
/// at most `maxKeys` addresses are tracked, full buckets dropped first. May be called from
/// any thread.
public final class ClientRateLimiter: Sendable {
    public struct Policy: Sendable, Equatable {
        /// Requests per second per address; 0 turns the limit off.
        public var rate: Double
        public var burst: Double
        public var maxKeys: Int

        public init(rate: Double, burst: Double, maxKeys: Int = 100_000) {
            self.rate = rate
            self.burst = max(burst, 1)
            self.maxKeys = maxKeys
        }

        /// 20 per second per address, bursts of 40.
        public static let standard = Policy(rate: 20, burst: 40)
    }

    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let policy: Policy
    // Lock rule: `buckets` is only touched inside `withLock`, never across an await.
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock = ContinuousClock()

    public init(policy: Policy = .standard) {
        self.policy = policy
    }

    /// nil when `client` may go ahead (one token taken), else how long until it may.
    /// A request without a client address (in-process) is never limited.
    public func admit(_ client: String?, now: ContinuousClock.Instant? = nil) -> Duration? {
        guard policy.rate > 0, let client else { return nil }
        let policy = self.policy
        let clock = self.clock
        return buckets.withLock { buckets -> Duration? in
            // Read under the lock, so that the instants of one bucket never go backwards.
            let now = now ?? clock.now
            var bucket = buckets[client] ?? Bucket(tokens: policy.burst, updated: now)
            let elapsed = bucket.updated.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(policy.burst, bucket.tokens + max(0, seconds) * policy.rate)
            bucket.updated = now
            guard bucket.tokens >= 1 else {
                buckets[client] = bucket
                return .milliseconds(Int64(((1 - bucket.tokens) / policy.rate * 1000).rounded(.up)))
            }
            bucket.tokens -= 1
            if buckets[client] == nil && buckets.count >= policy.maxKeys {
                // Forget the addresses that are idle enough to be full again.
                buckets = buckets.filter { _, other in
                    let idle = other.updated.duration(to: now)
                    return Double(idle.components.seconds) * policy.rate + other.tokens < policy.burst
                }
                if buckets.count >= policy.maxKeys { return nil }  // untracked, like the throttle's overflow
            }
            buckets[client] = bucket
            return nil
        }
    }
}
