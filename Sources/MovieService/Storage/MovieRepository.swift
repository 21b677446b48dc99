import Postgres

/// The movies table: every query the service runs, each one round trip.
public struct MovieRepository: Sendable {
    public let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    /// Creates the table and its index if missing (versioned, in a transaction).
    public func migrate() async throws {
        try await PostgresMigrator(client: database).migrate(MovieSQL.migrations)
    }

    public func insert(_ draft: MovieDraft) async throws -> Movie {
        let rows = try await database.query(MovieSQL.insert, [
            .text(draft.title), draft.director.map { .text($0) } ?? .null, .int(Int(draft.year)), .text(draft.genre),
            draft.rating.map { .double($0) } ?? .null,
        ])
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

    /// One page ordered by id and the total count of the (filtered) list, in one round trip.
    public func list(genre: String?, limit: Int, offset: Int) async throws -> (movies: [Movie], total: Int) {
        let statements: [PostgresStatement]
        if let genre {
            statements = [
                PostgresStatement(MovieSQL.listByGenre, [.text(genre), .int(limit), .int(offset)]),
                PostgresStatement(MovieSQL.countByGenre, [.text(genre)]),
            ]
        } else {
            statements = [
                PostgresStatement(MovieSQL.list, [.int(limit), .int(offset)]),
                PostgresStatement(MovieSQL.count),
            ]
        }
        let results = try await database.pipeline(statements)
        let rows = try results[0].get()
        let count = try results[1].get()
        let total = try count.first?.decode(Int.self, column: 0) ?? 0
        return (try rows.map(Movie.init(row:)), total)
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
