import Postgres
import ServiceKit

/// The watchlist table's SQL: parameterized statements only, one round trip per call on
/// the happy path.
///
/// Runs on the calling loop's pool (``PostgresClient``), so a request's queries stay on
/// its thread. Errors are the driver's ``PostgresError``; callers match on its code (a
/// duplicate add is `.uniqueViolation`), never on message text.
struct WatchlistStore: Sendable {
    let database: PostgresClient
    /// The keys of `POST /api/watchlist`, stored by ``add(userID:movieID:remembering:)``.
    let keys: IdempotencyKeyStore

    init(database: PostgresClient) {
        self.database = database
        keys = IdempotencyKeyStore(table: WatchlistSchema.idempotencyKeys, database: database)
    }

    /// A page of entries and the size of the whole list.
    struct Page: Sendable {
        var entries: [WatchlistEntry]
        var total: Int
    }

    /// The per-user lock that orders an add against the user's deletion: a transaction-scoped
    /// advisory lock in a key space of its own (two 32-bit keys: this class, the user id's
    /// hash; the migrator's lock uses the one-key form). Two users sharing a hash only wait
    /// for each other.
    static let userLock = "SELECT pg_advisory_xact_lock(1464947788, hashint8($1::int8))"

    /// Inserts an entry, unless the user was deleted (then nil).
    ///
    /// Under the user's lock, so that it runs wholly before or wholly after
    /// ``deleteAll(userID:)``: before, the deletion removes the entry; after, the tombstone
    /// it left refuses the insert. (The user service's check that the user exists happens
    /// earlier and cannot see a deletion that lands between it and this insert.)
    /// - Throws: ``PostgresError`` `.uniqueViolation` when the movie is already on the list.
    /// With `idempotency`, the request's key is stored with the new entry's id by the same
    /// statement.
    /// - Throws: ``PostgresError`` `.uniqueViolation` also when the key is stored already.
    func add(userID: Int64, movieID: Int64, remembering idempotency: IdempotentRequest? = nil) async throws
        -> WatchlistEntry?
    {
        let insert = """
            INSERT INTO watchlist (user_id, movie_id) SELECT $1, $2
            WHERE NOT EXISTS (SELECT 1 FROM deleted_users WHERE user_id = $1)
            RETURNING \(WatchlistEntry.columns)
            """
        var parameters: [PostgresValue] = [.int(Int(userID)), .int(Int(movieID))]
        var statement = insert
        if let idempotency {
            statement = """
                WITH created AS (\(insert)), \(keys.rememberClause(from: "created", keyParameter: 3))
                SELECT \(WatchlistEntry.columns) FROM created
                """
            parameters += IdempotencyKeyStore.parameters(idempotency)
        }
        return try await database.withTransaction { [statement, parameters] transaction in
            _ = try await transaction.query(Self.userLock, [.int(Int(userID))])
            let rows = try await transaction.query(statement, parameters)
            return try rows.first.map { row throws(PostgresError) in try WatchlistEntry(row: row) }
        }
    }

    /// The statements of one kind of list: its page with the total, and the total alone.
    struct ListStatements {
        let page: String
        let count: String

        /// One query for the page and its total (`count(*) OVER ()` runs before LIMIT).
        init(where condition: String, orderBy: String) {
            page = """
                SELECT \(WatchlistEntry.columns), count(*) OVER () AS total FROM watchlist
                WHERE \(condition) ORDER BY \(orderBy) LIMIT $2 OFFSET $3
                """
            count = "SELECT count(*) FROM watchlist WHERE \(condition)"
        }
    }

    /// A user's entries, newest first (ties by id, so pages are stable). Built once: the
    /// driver finds its prepared statement by the text.
    static let byUser = ListStatements(where: "user_id = $1", orderBy: "added_at DESC, id DESC")
    /// The entries that hold a movie, by id (API.md: lists are ordered by id).
    static let byMovie = ListStatements(where: "movie_id = $1", orderBy: "id")

    /// A user's entries, newest first (ties by id, so pages are stable).
    func entries(userID: Int64, page: Pagination) async throws -> Page {
        try await list(Self.byUser, parameter: userID, page: page)
    }

    /// The entries that hold a movie, by id (API.md: lists are ordered by id).
    func entries(movieID: Int64, page: Pagination) async throws -> Page {
        try await list(Self.byMovie, parameter: movieID, page: page)
    }

    /// One query for the page and its total; only a page past the end, which has no row to
    /// carry the total, costs a second query.
    private func list(_ statements: ListStatements, parameter: Int64, page: Pagination) async throws -> Page {
        let rows = try await database.query(
            statements.page, [.int(Int(parameter)), .int(page.limit), .int(page.offset)])
        var entries: [WatchlistEntry] = []
        entries.reserveCapacity(rows.count)
        for row in rows { entries.append(try WatchlistEntry(row: row)) }
        if let first = rows.first {
            return Page(entries: entries, total: try first.decode(Int.self, column: 4))
        }
        if page.offset == 0 { return Page(entries: [], total: 0) }
        let count = try await database.query(statements.count, [.int(Int(parameter))])
        return Page(entries: [], total: try count[0].decode(Int.self, column: 0))
    }

    /// The entry for one user and movie, if any.
    /// The entry `id`, nil when there is none (a replayed add's answer).
    func entry(id: Int64) async throws -> WatchlistEntry? {
        let rows = try await database.query(
            "SELECT \(WatchlistEntry.columns) FROM watchlist WHERE id = $1", [.int(Int(id))])
        return try rows.first.map { row throws(PostgresError) in try WatchlistEntry(row: row) }
    }

    func entry(userID: Int64, movieID: Int64) async throws -> WatchlistEntry? {
        let rows = try await database.query(
            "SELECT \(WatchlistEntry.columns) FROM watchlist WHERE user_id = $1 AND movie_id = $2",
            [.int(Int(userID)), .int(Int(movieID))])
        return try rows.first.map { row throws(PostgresError) in try WatchlistEntry(row: row) }
    }

    /// The owner of entry `id`, nil when there is no such entry.
    func owner(ofEntry id: Int64) async throws -> Int64? {
        let rows = try await database.query("SELECT user_id FROM watchlist WHERE id = $1", [.int(Int(id))])
        return try rows.first?.decode(Int64.self, column: 0)
    }

    /// Deletes entry `id`, only when `userID` (if given) owns it.
    /// - Returns: whether a row was deleted.
    func delete(entryID id: Int64, ownedBy userID: Int64?) async throws -> Bool {
        let rows: PostgresRows
        if let userID {
            rows = try await database.query(
                "DELETE FROM watchlist WHERE id = $1 AND user_id = $2", [.int(Int(id)), .int(Int(userID))])
        } else {
            rows = try await database.query("DELETE FROM watchlist WHERE id = $1", [.int(Int(id))])
        }
        return rows.rowsAffected > 0
    }

    /// Deletes one user's entry for one movie.
    /// - Returns: whether a row was deleted.
    func delete(userID: Int64, movieID: Int64) async throws -> Bool {
        let rows = try await database.query(
            "DELETE FROM watchlist WHERE user_id = $1 AND movie_id = $2", [.int(Int(userID)), .int(Int(movieID))])
        return rows.rowsAffected > 0
    }

    /// Deletes every entry of a user (the user was deleted) and remembers the deletion, under
    /// the user's lock (see ``add(userID:movieID:)``). Idempotent.
    /// - Returns: how many entries went.
    @discardableResult
    func deleteAll(userID: Int64) async throws -> Int {
        try await database.withTransaction { transaction in
            _ = try await transaction.query(Self.userLock, [.int(Int(userID))])
            _ = try await transaction.query(
                "INSERT INTO deleted_users (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING", [.int(Int(userID))])
            let rows = try await transaction.query("DELETE FROM watchlist WHERE user_id = $1", [.int(Int(userID))])
            return rows.rowsAffected
        }
    }

    /// `SELECT 1`, for the health check.
    func ping() async -> Bool {
        (try? await database.query("SELECT 1")) != nil
    }
}
