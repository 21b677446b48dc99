import AuthToken
import Reactor

/// ``PasswordHasher`` on the blocking pool: scrypt takes tens of milliseconds of CPU and
/// 32 MiB, which must never run on an event loop.
public struct PasswordHashing: Sendable {
    public let hasher: PasswordHasher
    public let pool: BlockingPool

    public init(hasher: PasswordHasher = PasswordHasher(), pool: BlockingPool = .shared) {
        self.hasher = hasher
        self.pool = pool
    }

    public func hash(_ password: String) async throws -> String {
        let hasher = self.hasher
        return try await pool.run { () throws(AuthTokenError) -> String in try hasher.hash(password) }
    }

    /// Whether `password` matches `stored`; false (not an error) for a hash we cannot read,
    /// so that a corrupt row reads as a wrong password rather than a 500.
    public func verify(_ password: String, against stored: String) async throws -> Bool {
        let hasher = self.hasher
        return try await pool.run { () -> Bool in (try? hasher.verify(password, against: stored)) ?? false }
    }

    /// The work of a verification, for unknown emails (see ``PasswordHasher/verifyDummy(_:)``).
    public func verifyDummy(_ password: String) async throws -> Bool {
        let hasher = self.hasher
        return try await pool.run { () -> Bool in hasher.verifyDummy(password) }
    }

    public func needsRehash(_ stored: String) -> Bool { hasher.needsRehash(stored) }
}
