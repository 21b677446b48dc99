/// One client's token bucket: `rate` tokens a second up to `burst`; a request takes one.
///
/// Time is passed in (monotonic nanoseconds), so tests drive it with a fake clock.
public struct TokenBucket: Sendable, Equatable {
    public private(set) var tokens: Double
    public private(set) var updatedAt: UInt64

    public init(burst: Double, now: UInt64) {
        tokens = burst
        updatedAt = now
    }

    /// Takes a token if there is one.
    /// - Returns: nil when allowed; otherwise the seconds until a token is available
    ///   (at least 1, for `Retry-After`).
    public mutating func take(rate: Double, burst: Double, now: UInt64) -> Int? {
        refill(rate: rate, burst: burst, now: now)
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        let wait = rate > 0 ? (1 - tokens) / rate : 1
        return max(1, Int(wait.rounded(.up)))
    }

    /// Whether the bucket has refilled completely (and so can be forgotten).
    public func isFull(rate: Double, burst: Double, now: UInt64) -> Bool {
        var copy = self
        copy.refill(rate: rate, burst: burst, now: now)
        return copy.tokens >= burst
    }

    private mutating func refill(rate: Double, burst: Double, now: UInt64) {
        if now > updatedAt {
            tokens = min(burst, tokens + Double(now - updatedAt) / 1e9 * rate)
            updatedAt = now
        }
    }
}

/// Token buckets per client address, for one event loop.
///
/// Per loop, not shared: a limiter touched by every loop would need a lock on every
/// request. The approximation: the kernel spreads a client's connections over the loops
/// (SO_REUSEPORT), and each loop grants the full rate, so a client with connections on
/// every loop can get up to `LOOPS ×` the configured rate (one connection gets exactly
/// it). Memory is bounded: past `maxClients` addresses, full buckets (clients that have
/// been quiet long enough) are dropped, and if none are, the oldest half is.
public struct RateLimiter: Sendable {
    public let rate: Double
    public let burst: Double
    public let maxClients: Int
    private var buckets: [String: TokenBucket] = [:]

    public init(rate: Double, burst: Double, maxClients: Int = 100_000) {
        self.rate = rate
        self.burst = max(burst, 1)
        self.maxClients = maxClients
    }

    /// Whether limiting is on at all (`RATE_LIMIT_RPS` > 0).
    public var isEnabled: Bool { rate > 0 }

    public var clientCount: Int { buckets.count }

    /// Counts a request from `client`.
    /// - Returns: nil when allowed, else the `Retry-After` seconds.
    public mutating func admit(_ client: String, now: UInt64) -> Int? {
        guard isEnabled else { return nil }
        if let index = buckets.index(forKey: client) {
            return buckets.values[index].take(rate: rate, burst: burst, now: now)
        }
        if buckets.count >= maxClients { evict(now: now) }
        var bucket = TokenBucket(burst: burst, now: now)
        let verdict = bucket.take(rate: rate, burst: burst, now: now)
        buckets[client] = bucket
        return verdict
    }

    private mutating func evict(now: UInt64) {
        buckets = buckets.filter { !$0.value.isFull(rate: rate, burst: burst, now: now) }
        if buckets.count >= maxClients {
            let sorted = buckets.sorted { $0.value.updatedAt < $1.value.updatedAt }
            for (key, _) in sorted.prefix(buckets.count / 2) { buckets[key] = nil }
        }
    }
}
