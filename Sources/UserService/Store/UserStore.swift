import Postgres
import ServiceKit

/// The user service's SQL: every statement it runs, parameterized, against `userdb`.
///
/// Thread-safe; queries run on the calling loop's pool (``PostgresClient``). Errors are
/// `PostgresError`s, except that a duplicate email becomes a `ServiceError` 409, which is
/// the one database outcome a client is told about.
public struct UserStore: Sendable {
    public let client: PostgresClient
    /// The keys of `POST /api/users`, stored by ``create(name:email:passwordHash:remembering:)``.
    public let keys: IdempotencyKeyStore

    public init(client: PostgresClient) {
        self.client = client
        keys = IdempotencyKeyStore(table: UserMigrations.idempotencyKeys, database: client)
    }

    static let duplicateEmail = ServiceError.conflict("Email already registered")

    // MARK: Users

    /// Inserts a user; the email must already be lower-cased.
    /// - Throws: `ServiceError` 409 when the email is taken (in any letter case).
    /// With `idempotency`, the request's key is stored with the new id by the same statement
    /// (a stored key is a unique violation too, so also a 409 here).
    public func create(
        name: String, email: String, passwordHash: String, remembering idempotency: IdempotentRequest? = nil
    ) async throws -> User {
        let insert = "INSERT INTO users (name, email, password_hash) VALUES ($1, $2, $3) RETURNING \(User.columns)"
        do {
            let rows =
                if let idempotency {
                    try await client.query(
                        """
                        WITH created AS (\(insert)), \(keys.rememberClause(from: "created", keyParameter: 4))
                        SELECT \(User.columns) FROM created
                        """,
                        [.text(name), .text(email), .text(passwordHash)] + IdempotencyKeyStore.parameters(idempotency))
                } else {
                    try await client.query(insert, [.text(name), .text(email), .text(passwordHash)])
                }
            return try User(row: rows[0])
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw Self.duplicateEmail
        }
    }

    /// One page of users ordered by id, and how many there are in all — two statements
    /// in one round trip.
    public func list(limit: Int, offset: Int) async throws -> (users: [User], total: Int) {
        let results = try await client.pipeline([
            PostgresStatement("SELECT count(*) FROM users"),
            PostgresStatement(
                "SELECT \(User.columns) FROM users ORDER BY id LIMIT $1::int8 OFFSET $2::int8",
                [.int(limit), .int(offset)]),
        ])
        let total = try results[0].get()[0].decode(Int64.self, column: 0)
        let users = try results[1].get().map { try User(row: $0) }
        return (users, Int(total))
    }

    public func find(id: Int64) async throws -> User? {
        let rows = try await client.query(
            "SELECT \(User.columns) FROM users WHERE id = $1::int8", [.int(Int(id))])
        return try rows.first.map { try User(row: $0) }
    }

    /// Whether an account holds `email` (lower-cased), in any letter case: sign-up asks
    /// before it spends a password hash on an address that is taken.
    public func emailTaken(_ email: String) async throws -> Bool {
        let rows = try await client.query("SELECT 1 FROM users WHERE lower(email) = lower($1)", [.text(email)])
        return !rows.isEmpty
    }

    /// The user with `email` (lower-cased) and their stored password hash, for login only.
    public func credentials(email: String) async throws -> (user: User, passwordHash: String)? {
        let rows = try await client.query(
            "SELECT \(User.columns), password_hash FROM users WHERE lower(email) = lower($1)", [.text(email)])
        guard let row = rows.first else { return nil }
        return (try User(row: row), try row.decode(String.self, column: User.columnCount))
    }

    /// User `id` and their stored password hash, for a change that needs the current password.
    public func credentials(id: Int64) async throws -> (user: User, passwordHash: String)? {
        let rows = try await client.query(
            "SELECT \(User.columns), password_hash FROM users WHERE id = $1::int8", [.int(Int(id))])
        guard let row = rows.first else { return nil }
        return (try User(row: row), try row.decode(String.self, column: User.columnCount))
    }

    /// Changes the given fields (nil keeps a field) and `updated_at`; nil when no such user.
    /// A new email or password also bumps the token version, which revokes earlier tokens.
    /// - Parameter expectedHash: when given, the update happens only while the stored hash
    ///   is still this one (the current password was checked against it): a concurrent
    ///   password change wins, and this one reads as "no such user" to the caller.
    /// - Throws: `ServiceError` 409 when the new email belongs to someone else.
    public func update(
        id: Int64, name: String?, email: String?, passwordHash: String?, expectedHash: String? = nil
    ) async throws -> User? {
        let revokes = email != nil || passwordHash != nil
        do {
            let rows = try await client.query(
                """
                UPDATE users SET name = COALESCE($2, name), email = COALESCE($3, email),
                    password_hash = COALESCE($4, password_hash), updated_at = now(),
                    token_version = token_version + CASE WHEN $5::bool THEN 1 ELSE 0 END
                WHERE id = $1::int8 AND ($6::text IS NULL OR password_hash = $6)
                RETURNING \(User.columns)
                """,
                [.int(Int(id)), name.map(PostgresValue.text) ?? .null, email.map(PostgresValue.text) ?? .null,
                 passwordHash.map(PostgresValue.text) ?? .null, .bool(revokes),
                 expectedHash.map(PostgresValue.text) ?? .null])
            return try rows.first.map { try User(row: $0) }
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw Self.duplicateEmail
        }
    }

    // MARK: Roles (operators only: UserAdministration, the bootstrap)

    /// What ``setRole(email:role:)`` did.
    public enum RoleChange: Sendable, Equatable {
        case changed(User)
        case unchanged(User)
        case noSuchUser
    }

    /// Gives the account with `email` the role `role`, bumping its token version (its
    /// earlier tokens, which carry the old role, are revoked).
    public func setRole(email: String, role: UserRole) async throws -> RoleChange {
        let rows = try await client.query(
            """
            UPDATE users SET role = $2, token_version = token_version + 1, updated_at = now()
            WHERE lower(email) = lower($1) AND role <> $2 RETURNING \(User.columns)
            """, [.text(email), .text(role.rawValue)])
        if let row = rows.first { return .changed(try User(row: row)) }
        guard let existing = try await credentials(email: email.lowercased()) else { return .noSuchUser }
        return .unchanged(existing.user)
    }

    /// The admins, by id.
    public func admins() async throws -> [User] {
        try await client.query("SELECT \(User.columns) FROM users WHERE role = 'admin' ORDER BY id").map { try User(row: $0) }
    }

    /// Whether any account is an admin (the bootstrap acts only when none is).
    public func adminExists() async throws -> Bool {
        !(try await client.query("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1")).isEmpty
    }

    /// Inserts an admin account (the bootstrap).
    /// - Throws: `ServiceError` 409 when the email is taken.
    public func createAdmin(name: String, email: String, passwordHash: String) async throws -> User {
        do {
            let rows = try await client.query(
                "INSERT INTO users (name, email, password_hash, role) VALUES ($1, $2, $3, 'admin') RETURNING \(User.columns)",
                [.text(name), .text(email), .text(passwordHash)])
            return try User(row: rows[0])
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw Self.duplicateEmail
        }
    }

    /// Stores a stronger hash after a successful login (parameters raised since the last
    /// one), only if the hash is still the one that was verified: a password changed in
    /// the meantime wins. Not a user-visible change, so `updated_at` stays.
    public func upgradePasswordHash(id: Int64, from old: String, to new: String) async throws {
        _ = try await client.query(
            "UPDATE users SET password_hash = $3 WHERE id = $1::int8 AND password_hash = $2",
            [.int(Int(id)), .text(old), .text(new)])
    }

    /// Deletes the user and, in the same transaction, queues the deletion for the
    /// watchlist service (the outbox, see ``DeletionRelay``): either both happen or neither.
    /// - Parameter traceparent: the deleting request's span, which the delivery continues.
    /// - Returns: false when there was no such user (nothing written).
    public func delete(id: Int64, traceparent: String? = nil) async throws -> Bool {
        try await client.withTransaction { transaction in
            let deleted = try await transaction.query("DELETE FROM users WHERE id = $1::int8", [.int(Int(id))])
            guard deleted.rowsAffected == 1 else { return false }
            _ = try await transaction.query(
                "INSERT INTO user_deletions (user_id, traceparent) VALUES ($1::int8, $2)",
                [.int(Int(id)), traceparent.map { .text($0) } ?? .null])
            return true
        }
    }

    // MARK: The deletion outbox

    /// One queued deletion.
    public struct PendingDeletion: Sendable, Equatable {
        public var id: Int64
        public var userID: Int64
        public var attempts: Int
        /// The deleting request's span (`traceparent`), when it had one.
        public var traceparent: String? = nil
    }

    /// Undelivered deletions, fewest attempts first, then oldest: rows the watchlist service
    /// keeps refusing sink behind fresh ones instead of blocking them.
    public func pendingDeletions(limit: Int) async throws -> [PendingDeletion] {
        let rows = try await client.query(
            """
            SELECT id, user_id, attempts, traceparent FROM user_deletions WHERE delivered_at IS NULL
            ORDER BY attempts, id LIMIT $1::int8
            """, [.int(limit)])
        return try rows.map { row in
            PendingDeletion(
                id: try row.decode(Int64.self, column: 0), userID: try row.decode(Int64.self, column: 1),
                attempts: Int(try row.decode(Int32.self, column: 2)),
                traceparent: try row.decode(String?.self, column: 3))
        }
    }

    public func markDelivered(_ id: Int64) async throws {
        _ = try await client.query(
            "UPDATE user_deletions SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1::int8",
            [.int(Int(id))])
    }

    /// Records a failed attempt; `reason` is secret-free (a status code, an error code).
    public func recordFailedAttempt(_ id: Int64, reason: String) async throws {
        _ = try await client.query(
            "UPDATE user_deletions SET attempts = attempts + 1, last_error = $2 WHERE id = $1::int8",
            [.int(Int(id)), .text(String(reason.prefix(500)))])
    }
}
