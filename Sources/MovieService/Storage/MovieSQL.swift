import Postgres
import ServiceKit

/// Every SQL text of the movie service, and its schema migrations.
///
/// Parameterized only; the one statement built at run time (``update(_:)``) assembles
/// fixed column names, never input.
enum MovieSQL {
    /// The column list every movie query selects, in ``Movie/init(row:)``'s order.
    static let columns = "id, title, director, year, genre, rating, version, created_at, updated_at"

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "movies",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS movies (
                    id bigserial PRIMARY KEY,
                    title text NOT NULL,
                    director text,
                    year integer NOT NULL,
                    genre text NOT NULL,
                    rating double precision,
                    version bigint NOT NULL DEFAULT 1,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX IF NOT EXISTS movies_genre_lower_idx ON movies (lower(genre))",
            ]),
        // A genre page is a range of this index read in order: `LIMIT` stops the scan after
        // `offset + limit` entries, however many movies the genre has (with `lower(genre)`
        // alone, PostgreSQL fetches and sorts the whole genre for every page).
        Migration(
            version: 2, name: "movies genre and id",
            statements: [
                "CREATE INDEX IF NOT EXISTS movies_genre_lower_id_idx ON movies (lower(genre), id)",
                "DROP INDEX IF EXISTS movies_genre_lower_idx",
            ]),
        IdempotencyKeyStore.migration(version: 3, table: idempotencyKeys),
    ]

    /// The `Idempotency-Key`s of `POST /api/movies` (ServiceKit's ``IdempotencyKeyStore``).
    static let idempotencyKeys = "movie_idempotency_keys"

    static let insert = """
        INSERT INTO movies (title, director, year, genre, rating) VALUES ($1, $2, $3, $4, $5)
        RETURNING \(columns)
        """

    /// ``insert`` and, in the same statement, the request's key with the new id (`$6`, `$7`).
    static func insert(remembering keys: IdempotencyKeyStore) -> String {
        """
        WITH created AS (
            INSERT INTO movies (title, director, year, genre, rating) VALUES ($1, $2, $3, $4, $5)
            RETURNING \(columns)
        ), \(keys.rememberClause(from: "created", keyParameter: 6))
        SELECT \(columns) FROM created
        """
    }

    static let selectOne = "SELECT \(columns) FROM movies WHERE id = $1"

    /// The batch endpoint's one query for its cache misses.
    static let selectMany = "SELECT \(columns) FROM movies WHERE id = ANY($1::int8[])"

    /// One page ordered by id.
    static let page = "SELECT \(columns) FROM movies ORDER BY id LIMIT $1 OFFSET $2"
    /// `lower(genre)` so that the `(lower(genre), id)` index serves filter, order and limit.
    static let pageByGenre = "SELECT \(columns) FROM movies WHERE lower(genre) = lower($1) ORDER BY id LIMIT $2 OFFSET $3"

    /// A page and the list's total in one statement, so both come from one snapshot: the
    /// count's one row joined to the page's rows (the page's columns are NULL when it is
    /// empty), the total in the last column.
    static let pageAndTotal = """
        SELECT p.*, t.total FROM (SELECT count(*) AS total FROM movies) t
        LEFT JOIN LATERAL (SELECT \(columns) FROM movies ORDER BY id LIMIT $1 OFFSET $2) p ON true
        ORDER BY p.id
        """
    static let pageAndTotalByGenre = """
        SELECT p.*, t.total FROM (SELECT count(*) AS total FROM movies WHERE lower(genre) = lower($1)) t
        LEFT JOIN LATERAL (
            SELECT \(columns) FROM movies WHERE lower(genre) = lower($1) ORDER BY id LIMIT $2 OFFSET $3
        ) p ON true
        ORDER BY p.id
        """
    /// The column of ``pageAndTotal``'s total: after ``columns``' nine.
    static let totalColumn = 9

    static let delete = "DELETE FROM movies WHERE id = $1 RETURNING version"

    /// `UPDATE ... SET <present fields>, version = version + 1, updated_at = now() WHERE id = $1`;
    /// nil for an empty patch.
    static func update(id: Int64, _ patch: MoviePatch) -> PostgresStatement? {
        guard !patch.isEmpty else { return nil }
        var assignments: [String] = []
        var parameters: [PostgresValue] = [.int(Int(id))]
        func set(_ column: String, _ value: PostgresValue) {
            parameters.append(value)
            assignments.append("\(column) = $\(parameters.count)")
        }
        if let title = patch.title { set("title", .text(title)) }
        if let director = patch.director { set("director", director.map { .text($0) } ?? .null) }
        if let year = patch.year { set("year", .int(Int(year))) }
        if let genre = patch.genre { set("genre", .text(genre)) }
        if let rating = patch.rating { set("rating", rating.map { .double($0) } ?? .null) }
        assignments.append("version = version + 1")
        assignments.append("updated_at = now()")
        let sql = "UPDATE movies SET \(assignments.joined(separator: ", ")) WHERE id = $1 RETURNING \(columns)"
        return PostgresStatement(sql, parameters)
    }
}
