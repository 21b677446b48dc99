import Postgres
import ServiceKit

/// A user as clients see it: `{"id","name","email","role","created_at","updated_at"}`.
///
/// The password hash is deliberately not a property: rows are read into this type with a
/// column list that never names `password_hash`, so no code path can put the hash into a
/// response or a log line by accident. Login reads the hash through
/// ``UserStore/credentials(email:)``, which returns it beside, not inside, the user.
public struct User: Sendable, Equatable, JSONEncodable {
    public var id: Int64
    public var name: String
    /// Lower-case, as stored.
    public var email: String
    /// `user` or `admin`: granted by an operator only (``UserAdministration``).
    public var role: UserRole
    /// Bumped by a password, email or role change: tokens carrying an older one are revoked.
    /// Never shown to clients.
    public var tokenVersion: Int64
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: Int64, name: String, email: String, role: UserRole = .user, tokenVersion: Int64 = 1,
        createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.id = id
        self.name = name
        self.email = email
        self.role = role
        self.tokenVersion = tokenVersion
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The columns ``init(row:)`` reads, in order: every `SELECT`/`RETURNING` of a user uses it.
    static let columns = "id, name, email, created_at, updated_at, role, token_version"
    static let columnCount = 7

    /// Reads the ``columns`` of a row.
    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, column: 0)
        name = try row.decode(String.self, column: 1)
        email = try row.decode(String.self, column: 2)
        createdAt = Timestamp(microsecondsSinceEpoch: try row.decode(PostgresTimestamp.self, column: 3).microsecondsSinceEpoch)
        updatedAt = Timestamp(microsecondsSinceEpoch: try row.decode(PostgresTimestamp.self, column: 4).microsecondsSinceEpoch)
        // The column's CHECK constraint admits only these two; anything else reads as the lesser.
        role = UserRole(rawValue: try row.decode(String.self, column: 5)) ?? .user
        tokenVersion = try row.decode(Int64.self, column: 6)
    }

    public func encode(to json: inout JSONWriter) {
        json.object { object in
            object.field("id", id)
            object.field("name", name)
            object.field("email", email)
            object.field("role", role.rawValue)
            object.field("created_at", createdAt)
            object.field("updated_at", updatedAt)
        }
    }
}
