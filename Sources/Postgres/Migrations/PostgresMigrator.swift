/// One versioned schema change: static DDL, one statement per string (parameterized
/// queries only, and the extended protocol takes one statement at a time).
public struct Migration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    /// A migration of a single statement.
    public init(version: Int, name: String, sql: String) {
        self.init(version: version, name: name, statements: [sql])
    }
}

/// Applies missing migrations at start, in version order, in one transaction, under a
/// transaction-scoped advisory lock so that two instances starting together cannot race:
/// the second waits for the first, then sees its versions in `schema_migrations` and
/// applies nothing. Running it again is a no-op. Its statements are bounded by ``timeout``
/// rather than the pool's query timeout and the server's `statement_timeout` (waiting for
/// another instance's migration, or building an index on a large table, may take longer).
public struct PostgresMigrator: Sendable {
    /// The advisory lock key (any 64-bit number that the services agree on).
    public static let lockKey = 0x4D61_7271_7565_6531  // "Marquee1"

    public let client: PostgresClient
    /// Each statement's client-side deadline.
    public let timeout: Duration

    public init(client: PostgresClient, timeout: Duration = .seconds(60)) {
        self.client = client
        self.timeout = timeout
    }

    /// Applies every migration whose version is not recorded yet.
    /// - Returns: the versions applied by this call (empty when the schema was up to date).
    /// - Throws: ``PostgresError`` from the failing statement; nothing of this run is kept.
    @discardableResult
    public func migrate(_ migrations: [Migration]) async throws -> [Int] {
        let versions = migrations.map(\.version)
        precondition(Set(versions).count == versions.count, "two migrations share a version")
        let milliseconds = max(1, timeout.nanoseconds / 1_000_000)
        return try await client.withTransaction(queryTimeout: timeout) { transaction in
            _ = try await transaction.query("SET LOCAL statement_timeout = \(milliseconds)")
            _ = try await transaction.query("SELECT pg_advisory_xact_lock($1::int8)", [.int(Self.lockKey)])
            _ = try await transaction.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version bigint PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let rows = try await transaction.query("SELECT version FROM schema_migrations")
            var applied = Set<Int>()
            for row in rows { applied.insert(try row.decode(Int.self, column: 0)) }
            var newlyApplied: [Int] = []
            for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
                for statement in migration.statements { _ = try await transaction.query(statement) }
                _ = try await transaction.query(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    [.int(migration.version), .text(migration.name)])
                newlyApplied.append(migration.version)
            }
            return newlyApplied
        }
    }
}
