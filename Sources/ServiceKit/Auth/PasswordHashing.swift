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
/// only half of it, and one client's verifications half of it too: the rest is kept for
/// other clients' logins, so that a flood never makes them a 503.
///
/// The order on the pool (``BlockingPool/Lane``): every new hash queues in one lane, which
/// never runs on the last free thread, and each client's verifications in a lane of their
/// own; lanes take turns. So a login waits for no sign-up's hash to start (a thread is kept
/// for it), and for at most one verification of each other client with some queued.
///
/// A computation whose caller is cancelled (its client went away) before a pool thread
/// takes it is dropped and frees its place at once; one that started runs to its end:
/// OpenSSL's scrypt cannot be interrupted (docs/DESIGN.md, "Password hashing").
public struct PasswordHashing: Sendable {
    public let hasher: PasswordHasher
    public let pool: BlockingPool
    /// Computations running or queued at most; the next is a 503.
    public let maxPending: Int
    private let state: State

    /// Counts shared by copies of one ``PasswordHashing``.
    final class State: Sendable {
        let admission: Mutex<HashingAdmission>
        let computations = Atomic<Int>(0)
        let refused = Atomic<Int>(0)

        init(_ admission: HashingAdmission) { self.admission = Mutex(admission) }
    }

    /// The lane of every new hash: all threads but one when there are several.
    let newHashes: BlockingPool.Lane

    /// - Parameter maxPending: default: four per pool thread.
    public init(hasher: PasswordHasher = PasswordHasher(), pool: BlockingPool = .shared, maxPending: Int? = nil) {
        self.hasher = hasher
        self.pool = pool
        self.maxPending = max(1, maxPending ?? pool.threadCount * 4)
        state = State(HashingAdmission(maxPending: self.maxPending))
        newHashes = BlockingPool.Lane("new password hashes", maxRunning: max(1, pool.threadCount - 1))
    }

    /// scrypt computations started on a pool thread (hashes, verifications, dummy
    /// verifications); a dropped one (its caller cancelled while it waited) is not counted.
    public var computations: Int { state.computations.load(ordering: .relaxed) }
    /// Computations running or queued now.
    public var pending: Int { state.admission.withLock { $0.pending } }
    /// Computations refused because ``maxPending`` were already pending.
    public var refused: Int { state.refused.load(ordering: .relaxed) }

    /// The 503 for a full queue: a client that waits a second finds room again.
    public static let busy = ServiceError(
        .serviceUnavailable, detail: "Too many password checks in progress, try again shortly",
        headers: ["Retry-After": "1"])

    /// A new hash (a sign-up, a password change), in the lane of new hashes.
    public func hash(_ password: String) async throws -> String {
        let hasher = self.hasher
        return try await compute(.newHash, in: newHashes) { () throws(AuthTokenError) -> String in
            try hasher.hash(password)
        }
    }

    /// Whether `password` matches `stored`; false (not an error) for a hash we cannot read,
    /// so that a corrupt row reads as a wrong password rather than a 500. `client` (an
    /// address; nil in-process) names the lane it queues in and whose share it counts in.
    public func verify(_ password: String, against stored: String, client: String?) async throws -> Bool {
        let hasher = self.hasher
        return try await compute(.verification(client: client), in: Self.lane(of: client)) { () -> Bool in
            (try? hasher.verify(password, against: stored)) ?? false
        }
    }

    /// The work of a verification, for unknown emails (see ``PasswordHasher/verifyDummy(_:)``).
    public func verifyDummy(_ password: String, client: String?) async throws -> Bool {
        let hasher = self.hasher
        return try await compute(.verification(client: client), in: Self.lane(of: client)) { () -> Bool in
            hasher.verifyDummy(password)
        }
    }

    /// The pool lane of `client`'s verifications.
    static func lane(of client: String?) -> BlockingPool.Lane {
        BlockingPool.Lane(client.map { "verify " + $0 } ?? "verify in-process")
    }

    public func needsRehash(_ stored: String) -> Bool { hasher.needsRehash(stored) }

    /// Runs `work` on the pool in `lane` if ``HashingAdmission`` lets `kind` in, else throws
    /// ``busy``. The place is given back when the call returns (at once on cancellation).
    /// - Throws: ``busy``, `CancellationError` (the caller was cancelled before the work
    ///   started), or what `work` throws.
    private func compute<T: Sendable, E: Error>(
        _ kind: HashingAdmission.Kind, in lane: BlockingPool.Lane, _ work: @escaping @Sendable () throws(E) -> T
    ) async throws -> T {
        guard state.admission.withLock({ $0.admit(kind) }) else {
            state.refused.wrappingAdd(1, ordering: .relaxed)
            throw Self.busy
        }
        let state = self.state
        defer { state.admission.withLock { $0.release(kind) } }
        return try await pool.run(in: lane) { () throws(E) -> T in
            state.computations.wrappingAdd(1, ordering: .relaxed)
            return try work()
        }
    }
}

/// Who may queue one more password computation: at most `maxPending` in all, new hashes at
/// most half of them, and one client's verifications at most half of them, so that neither a
/// sign-up flood nor one client's logins leave no room for another client's login. A state
/// machine (``PasswordHashing`` holds it behind a lock).
struct HashingAdmission {
    enum Kind: Equatable {
        case newHash
        case verification(client: String?)
    }

    let maxPending: Int
    private(set) var pending = 0
    private(set) var newHashes = 0
    private var verificationsByClient: [String: Int] = [:]

    init(maxPending: Int) { self.maxPending = max(1, maxPending) }

    /// The most that new hashes, or one client's verifications, may hold.
    var share: Int { max(1, maxPending / 2) }

    /// Takes a place for `kind` and returns true, or returns false (nothing taken).
    mutating func admit(_ kind: Kind) -> Bool {
        guard pending < maxPending else { return false }
        switch kind {
        case .newHash:
            guard newHashes < share else { return false }
            newHashes += 1
        case .verification(let client?):
            let held = verificationsByClient[client, default: 0]
            guard held < share else { return false }
            verificationsByClient[client] = held + 1
        case .verification(nil):
            break
        }
        pending += 1
        return true
    }

    /// Gives back a place ``admit(_:)`` took for `kind`.
    mutating func release(_ kind: Kind) {
        pending -= 1
        switch kind {
        case .newHash:
            newHashes -= 1
        case .verification(let client?):
            let held = verificationsByClient[client, default: 1] - 1
            verificationsByClient[client] = held > 0 ? held : nil
        case .verification(nil):
            break
        }
    }

    /// Verifications `client` holds now.
    func verifications(of client: String) -> Int { verificationsByClient[client, default: 0] }
}
