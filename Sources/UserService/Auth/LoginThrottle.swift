/// Login throttling as a pure state machine: failures counted per key (one key per email
/// *and* client address, one per client address), a lock-out once a key has too many, and
/// a `Retry-After`.
///
/// Why an email's failures count per client address: counted for the email alone, anyone
/// who knows a victim's address could lock the victim out by failing five times. Keyed by
/// the pair, an attacker's failures delay only the attacker's own attempts at that account
/// (by a lock that doubles with every further failure), and the victim logging in from their
/// own address is not affected. Guessing from many addresses is bounded by the per-address
/// limit, which counts failures on every email.
///
/// Generic over the clock's instant so that tests drive time by hand; the service keeps one
/// behind a lock with `ContinuousClock` (``LoginThrottler``).
///
/// The policy:
/// - a key's failures are forgotten once it has been quiet (no failure, no lock) for
///   `window`; until then they add up, so a patient attacker keeps escalating;
/// - reaching `maxFailures` locks the key for `lockout`; every further failure past the limit
///   (attempts made with another key, or once the lock ran out) doubles it, up to `maxLockout`;
/// - every attempt is charged before the password is checked, and a success refunds it:
///   the email's count is cleared, the client address's charge for that attempt returned;
/// - at most `maxKeys` keys are tracked: expired ones are dropped first, and when the table is
///   still full a new key is not tracked (the other key of the attempt still is). Memory
///   stays bounded whatever a caller sprays.
public struct LoginThrottle<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public typealias Policy = LoginThrottlePolicy
    public typealias Limit = LoginThrottlePolicy.Limit

    /// What a key is.
    public enum Key: Hashable, Sendable {
        /// An email, when the client address is unknown (in-process calls).
        case email(String)
        /// An email tried from one client address (the per-email limit applies).
        case account(email: String, client: String)
        case client(String)
    }

    public enum Decision: Equatable, Sendable {
        case allowed
        /// Refused until the lock runs out: answer 429 with `Retry-After`.
        case throttled(retryAfter: Duration)
    }

    struct Entry: Sendable {
        var failures: Int
        var lastFailure: Instant
        var lockedUntil: Instant?
    }

    public let policy: Policy
    private(set) var entries: [Key: Entry] = [:]
    /// The latest instant an attempt was made at: an attempt that arrives with an older
    /// one (its caller read the clock before another caller's attempt was counted) is
    /// taken as made at this one, so that no wait exceeds the lock that caused it.
    private var latest: Instant?

    public init(policy: Policy = .standard) {
        self.policy = policy
    }

    public var trackedKeys: Int { entries.count }

    private func limit(for key: Key) -> Limit {
        switch key {
        case .email, .account: policy.perEmail
        case .client: policy.perClient
        }
    }

    /// Whether an attempt with these keys may go ahead; the longest wait when not. Does not
    /// change anything (see ``attempt(_:now:)``).
    public func check(_ keys: [Key], now: Instant) -> Decision {
        var longest: Duration = .zero
        for key in keys {
            if let until = entries[key]?.lockedUntil, now < until {
                longest = max(longest, now.duration(to: until))
            }
        }
        return longest > .zero ? .throttled(retryAfter: longest) : .allowed
    }

    /// Starts an attempt: refused while any key is locked; otherwise the attempt is charged
    /// as a failure to every key *before* the password is checked, and refunded by
    /// ``succeeded(email:client:)``.
    ///
    /// Why charge first: checking takes tens of milliseconds of scrypt, and a caller who
    /// sends a hundred attempts at once must not get a hundred guesses past a limit of five.
    public mutating func attempt(_ keys: [Key], now: Instant) -> Decision {
        let now = latest.map { max($0, now) } ?? now
        latest = now
        let decision = check(keys, now: now)
        guard decision == .allowed else { return decision }
        for key in keys { charge(key, now: now) }
        return .allowed
    }

    /// Counts one failure against `key` (what ``attempt(_:now:)`` does for each key).
    mutating func charge(_ key: Key, now: Instant) {
        let limit = limit(for: key)
        var entry: Entry
        if let existing = entries[key], !isExpired(existing, limit: limit, now: now) {
            entry = existing
        } else {
            guard makeRoom(now: now) else { return }
            entry = Entry(failures: 0, lastFailure: now, lockedUntil: nil)
        }
        entry.failures += 1
        entry.lastFailure = now
        if entry.failures >= limit.maxFailures {
            let excess = min(entry.failures - limit.maxFailures, 30)
            var lockout = limit.lockout
            for _ in 0..<excess where lockout < limit.maxLockout { lockout = lockout * 2 }
            entry.lockedUntil = now.advanced(by: min(lockout, limit.maxLockout))
        }
        entries[key] = entry
    }

    /// The attempt succeeded: the email's failures are forgotten; the client's charge for
    /// this attempt is refunded, but its earlier failures stay (an attacker holding one valid
    /// account must not be able to reset the counter of the address they guess from).
    public mutating func succeeded(email: String, client: String?) {
        entries[.email(email)] = nil
        guard let client else { return }
        entries[.account(email: email, client: client)] = nil
        guard var entry = entries[.client(client)] else { return }
        entry.failures = max(0, entry.failures - 1)
        if entry.failures < policy.perClient.maxFailures { entry.lockedUntil = nil }
        entries[.client(client)] = entry
    }

    /// The attempt was not decided (the service could not check the password: 503): every
    /// key's charge for it is returned, so that refusals for capacity never add up to a lock.
    /// A key still at or past its limit afterwards keeps the lock the charge set: it had
    /// failed often enough to wait anyway.
    public mutating func refund(_ keys: [Key]) {
        for key in keys {
            guard var entry = entries[key] else { continue }
            entry.failures = max(0, entry.failures - 1)
            if entry.failures < limit(for: key).maxFailures { entry.lockedUntil = nil }
            entries[key] = entry
        }
    }

    /// An entry quiet for a whole window and not locked any more counts for nothing.
    private func isExpired(_ entry: Entry, limit: Limit, now: Instant) -> Bool {
        if let until = entry.lockedUntil, now < until { return false }
        return entry.lastFailure.advanced(by: limit.window) <= now
            && (entry.lockedUntil.map { $0 <= now } ?? true)
    }

    /// Ensures there is room for one more key; false when the table is full of live keys.
    private mutating func makeRoom(now: Instant) -> Bool {
        if entries.count < policy.maxKeys { return true }
        entries = entries.filter { key, entry in !isExpired(entry, limit: limit(for: key), now: now) }
        return entries.count < policy.maxKeys
    }
}

/// The limits of a ``LoginThrottle``: one for emails, one for client addresses.
public struct LoginThrottlePolicy: Sendable, Equatable {
    public struct Limit: Sendable, Equatable {
        public var maxFailures: Int
        public var window: Duration
        public var lockout: Duration
        public var maxLockout: Duration

        public init(maxFailures: Int, window: Duration, lockout: Duration, maxLockout: Duration) {
            precondition(maxFailures >= 1 && lockout > .zero && maxLockout >= lockout)
            self.maxFailures = maxFailures
            self.window = window
            self.lockout = lockout
            self.maxLockout = maxLockout
        }
    }

    public var perEmail: Limit
    public var perClient: Limit
    public var maxKeys: Int

    public init(perEmail: Limit, perClient: Limit, maxKeys: Int = 100_000) {
        self.perEmail = perEmail
        self.perClient = perClient
        self.maxKeys = maxKeys
    }

    /// 5 failures per email from one client address in 15 minutes delay that address's next
    /// attempt at the email by 2 seconds, doubling with each further failure (to 15 minutes);
    /// 20 per client address (any emails) lock that address for 1 minute (doubling to 15).
    public static let standard = LoginThrottlePolicy(
        perEmail: Limit(maxFailures: 5, window: .seconds(900), lockout: .seconds(2), maxLockout: .seconds(900)),
        perClient: Limit(maxFailures: 20, window: .seconds(900), lockout: .seconds(60), maxLockout: .seconds(900)))
}
