import Postgres
import ServiceKit

/// The movies table: every query the service runs, each one round trip.
public struct MovieRepository: Sendable {
    public let database: PostgresClient
    /// The keys of `POST /api/movies`, stored by ``insert(_:remembering:)``.
    public let keys: IdempotencyKeyStore
    private let insertRemembering: String

    public init(database: PostgresClient) {
        self.database = database
        keys = IdempotencyKeyStore(table: MovieSQL.idempotencyKeys, database: database)
        insertRemembering = MovieSQL.insert(remembering: keys)
    }

    /// Creates the table and its index if missing (versioned, in a transaction).
    public func migrate() async throws {
        try await PostgresMigrator(client: database).migrate(MovieSQL.migrations)
    }

    /// Inserts a movie and, in the same statement, the request's idempotency key (when it
    /// has one) with the new id.
    /// - Throws: a unique violation when the key is stored already (nothing is inserted).
    public func insert(_ draft: MovieDraft, remembering idempotency: IdempotentRequest? = nil) async throws -> Movie {
        let values: [PostgresValue] = [
            .text(draft.title), draft.director.map { .text($0) } ?? .null, .int(Int(draft.year)), .text(draft.genre),
            draft.rating.map { .double($0) } ?? .null,
        ]
        let rows =
            if let idempotency {
                try await database.query(insertRemembering, values + IdempotencyKeyStore.parameters(idempotency))
            } else {
                try await database.query(MovieSQL.insert, values)
            }
        guard let row = rows.first else { throw MovieServiceError(.unexpectedResult, message: "INSERT returned no row") }
        return try Movie(row: row)
    }

    public func find(_ id: Int64) async throws -> Movie? {
        let rows = try await database.query(MovieSQL.selectOne, [.int(Int(id))])
        return try rows.first.map(Movie.init(row:))
    }

    /// The movies among `ids` that exist, in no particular order: one query.
    public func find(ids: [Int64]) async throws -> [Movie] {
        let rows = try await database.query(MovieSQL.selectMany, [.intArray(ids.map { Int($0) })])
        return try rows.map(Movie.init(row:))
    }

    /// One page of the list (filtered by genre, case-insensitively, when given) ordered by id,
    /// and how many movies the whole list has: one statement, so one snapshot.
    public func listWithTotal(genre: String?, limit: Int, offset: Int) async throws -> (movies: [Movie], total: Int) {
        let rows =
            if let genre {
                try await database.query(MovieSQL.pageAndTotalByGenre, [.text(genre), .int(limit), .int(offset)])
            } else {
                try await database.query(MovieSQL.pageAndTotal, [.int(limit), .int(offset)])
            }
        guard let first = rows.first else {
            throw MovieServiceError(.unexpectedResult, message: "the list's count returned no row")
        }
        let total = try first.decode(Int.self, column: MovieSQL.totalColumn)
        // An empty page is the count's row alone, its movie columns NULL.
        if try first.decode(Int?.self, column: 0) == nil { return ([], total) }
        return (try rows.map(Movie.init(row:)), total)
    }

    /// One page of the list, without its total (the caller knows it).
    public func list(genre: String?, limit: Int, offset: Int) async throws -> [Movie] {
        let rows =
            if let genre {
                try await database.query(MovieSQL.pageByGenre, [.text(genre), .int(limit), .int(offset)])
            } else {
                try await database.query(MovieSQL.page, [.int(limit), .int(offset)])
            }
        return try rows.map(Movie.init(row:))
    }

    /// Applies a patch, bumping the version. - Returns: the new row, nil when the id is unknown.
    public func update(_ id: Int64, _ patch: MoviePatch) async throws -> Movie? {
        guard let statement = MovieSQL.update(id: id, patch) else { return try await find(id) }
        let rows = try await database.query(statement.sql, statement.parameters)
        return try rows.first.map(Movie.init(row:))
    }

    /// - Returns: the deleted row's last version, nil when the id is unknown.
    public func delete(_ id: Int64) async throws -> Int64? {
        let rows = try await database.query(MovieSQL.delete, [.int(Int(id))])
        return try rows.first.map { Int64(try $0.decode(Int.self, column: 0)) }
    }

    /// `SELECT 1` (the health check).
    public func ping() async -> Bool {
        (try? await database.query("SELECT 1")) != nil
    }
}
