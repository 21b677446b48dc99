import AuthToken
import Reactor
import Synchronization

/// ``PasswordHasher`` on the blocking pool: scrypt takes tens of milliseconds of CPU and
/// tens of MiB, which must never run on an event loop.
///
/// The pool's queue is bounded here: at most ``maxPending`` computations are running or
/// waiting at once, and one more is refused at once with 503 and `Retry-After` rather than
/// queued behind the others (a flood of sign-ups would otherwise make every login wait for
/// all of them, and hold their memory). New hashes (sign-ups, password changes) may fill
/// only half of it: the other half is kept for verifications, so that a sign-up flood
/// delays a login by at most half a queue and never makes it a 503. A computation whose
/// caller is cancelled (its client went away) before a pool thread takes it is dropped and
/// frees its place at once; one that started runs to its end: scrypt cannot be interrupted,
/// which is why the queue in front of it must stay short.
public struct PasswordHashing: Sendable {
    public let hasher: PasswordHasher
    public let pool: BlockingPool
    /// Computations running or queued at most; the next is a 503.
    public let maxPending: Int
    private let state: State

    /// Counts shared by copies of one ``PasswordHashing``.
    final class State: Sendable {
        let pending = Atomic<Int>(0)
        let computations = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
    }

    /// - Parameter maxPending: default: four per pool thread (a login waits for at most
    ///   three computations ahead of it on its thread).
    public init(hasher: PasswordHasher = PasswordHasher(), pool: BlockingPool = .shared, maxPending: Int? = nil) {
        self.hasher = hasher
        self.pool = pool
        self.maxPending = max(1, maxPending ?? pool.threadCount * 4)
        state = State()
    }

    /// scrypt computations started on a pool thread (hashes, verifications, dummy
    /// verifications); a dropped one (its caller cancelled while it waited) is not counted.
    public var computations: Int { state.computations.load(ordering: .relaxed) }
    /// Computations running or queued now.
    public var pending: Int { state.pending.load(ordering: .relaxed) }
    /// Computations refused because ``maxPending`` were already pending.
    public var refused: Int { state.refused.load(ordering: .relaxed) }

    /// The 503 for a full queue: a client that waits a second finds room again.
    public static let busy = ServiceError(
        .serviceUnavailable, detail: "Too many password checks in progress, try again shortly",
        headers: ["Retry-After": "1"])

    public func hash(_ password: String) async throws -> String {
        let hasher = self.hasher
        return try await compute(limit: max(1, maxPending / 2)) { () throws(AuthTokenError) -> String in
            try hasher.hash(password)
        }
    }

    /// Whether `password` matches `stored`; false (not an error) for a hash we cannot read,
    /// so that a corrupt row reads as a wrong password rather than a 500.
    public func verify(_ password: String, against stored: String) async throws -> Bool {
        let hasher = self.hasher
        return try await compute(limit: maxPending) { () -> Bool in (try? hasher.verify(password, against: stored)) ?? false }
    }

    /// The work of a verification, for unknown emails (see ``PasswordHasher/verifyDummy(_:)``).
    public func verifyDummy(_ password: String) async throws -> Bool {
        let hasher = self.hasher
        return try await compute(limit: maxPending) { () -> Bool in hasher.verifyDummy(password) }
    }

    public func needsRehash(_ stored: String) -> Bool { hasher.needsRehash(stored) }

    /// Runs `work` on the pool if fewer than `limit` computations are pending, else throws
    /// ``busy``. A refused call never counts as pending, even for an instant (a
    /// compare-and-exchange rather than add-then-check), so a burst of refusals cannot crowd
    /// out an admissible call.
    /// - Throws: ``busy``, `CancellationError` (the caller was cancelled before the work
    ///   started), or what `work` throws.
    private func compute<T: Sendable, E: Error>(
        limit: Int, _ work: @escaping @Sendable () throws(E) -> T
    ) async throws -> T {
        var pending = state.pending.load(ordering: .relaxed)
        while true {
            guard pending < limit else {
                state.refused.wrappingAdd(1, ordering: .relaxed)
                throw Self.busy
            }
            let (exchanged, current) = state.pending.compareExchange(
                expected: pending, desired: pending + 1, ordering: .acquiringAndReleasing)
            if exchanged { break }
            pending = current
        }
        defer { state.pending.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
        let state = self.state
        return try await pool.run { () throws(E) -> T in
            state.computations.wrappingAdd(1, ordering: .relaxed)
            return try work()
        }
    }
}
