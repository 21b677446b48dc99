import Logging
import ServiceKit

/// The first admin, created at start from `ADMIN_BOOTSTRAP_EMAIL` and
/// `ADMIN_BOOTSTRAP_PASSWORD` when the database has no admin yet; every later grant goes
/// through an operator (``UserAdministration``).
///
/// It never promotes an existing account: whoever signed up first with that address chose
/// its password, and may not be the operator. Such a start logs an error and grants nothing.
public struct AdminBootstrap: Sendable {
    public var email: String
    public var password: String

    /// An admin's password is longer than a user's minimum.
    public static let minimumPasswordLength = 12

    /// - Throws: ``UserServiceError`` `.configuration` for a malformed email or a short password.
    public init(email: String, password: String) throws(UserServiceError) {
        let trimmed = JSONFields.trimmed(email).lowercased()
        if let reason = EmailAddress.problem(trimmed) {
            throw UserServiceError(.configuration, "ADMIN_BOOTSTRAP_EMAIL is not a valid email address: \(reason)")
        }
        guard password.unicodeScalars.count >= Self.minimumPasswordLength, password.unicodeScalars.count <= 128 else {
            throw UserServiceError(
                .configuration, "ADMIN_BOOTSTRAP_PASSWORD must have \(Self.minimumPasswordLength) to 128 characters")
        }
        self.email = trimmed
        self.password = password
    }

    /// What ``run(store:hashing:logger:)`` did.
    public enum Outcome: Sendable, Equatable {
        case created(Int64)
        case adminExists
        case emailTaken
    }

    /// Creates the admin unless one exists. Safe for replicas starting together: the unique
    /// email index lets one of them create it, and the others see `emailTaken` or `adminExists`.
    @discardableResult
    public func run(store: UserStore, hashing: PasswordHashing, logger: Logger) async throws -> Outcome {
        if try await store.adminExists() { return .adminExists }
        if try await store.emailTaken(email) {
            if try await store.adminExists() { return .adminExists }
            logger.error(
                "ADMIN_BOOTSTRAP_EMAIL belongs to an account that is not an admin: not promoted (its password was chosen by whoever signed up); grant it with `user-service admin grant EMAIL` if it is yours"
            )
            return .emailTaken
        }
        let hash = try await hashing.hash(password)
        do {
            let user = try await store.createAdmin(name: "Administrator", email: email, passwordHash: hash)
            logger.info("bootstrap admin created", metadata: ["user_id": .stringConvertible(user.id)])
            return .created(user.id)
        } catch let error as ServiceError where error.code == .conflict {
            return try await store.adminExists() ? .adminExists : .emailTaken
        }
    }
}
