import HTTP
import Postgres
import ServiceKit

/// A movie as stored: the API's fields plus the row's ``version``, which every update bumps
/// and which guards the cache (a cached copy never replaces a newer one).
public struct Movie: Sendable, Equatable {
    public var id: Int64
    public var title: String
    public var director: String?
    public var year: Int64
    public var genre: String
    public var rating: Double?
    public var version: Int64
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: Int64, title: String, director: String?, year: Int64, genre: String, rating: Double?, version: Int64,
        createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.id = id
        self.title = title
        self.director = director
        self.year = year
        self.genre = genre
        self.rating = rating
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The strong validator of this version of the movie: `"<id>-<version>"`.
    ///
    /// Strong because the body of one version is always the same bytes: it is encoded once
    /// (``CachedMovie``) and served from those bytes whether it came from Redis or from
    /// PostgreSQL.
    public var etag: String { MovieETag.make(id: id, version: version) }
}

extension Movie: JSONEncodable {
    /// The API's movie object, in the seed's field order; `version` stays internal.
    public func encode(to json: inout JSONWriter) {
        json.object { object in
            object.field("id", id)
            object.field("title", title)
            object.field("director", director)
            object.field("year", year)
            object.field("genre", genre)
            object.field("rating", rating)
            object.field("created_at", createdAt)
            object.field("updated_at", updatedAt)
        }
    }
}

extension Movie {
    /// Decodes a row selected with ``MovieSQL/columns`` (that column order).
    /// - Throws: ``PostgresError`` when the row does not have that shape (our bug).
    init(row: PostgresRow) throws {
        id = Int64(try row.decode(Int.self, column: 0))
        title = try row.decode(String.self, column: 1)
        director = try row.decode(String?.self, column: 2)
        year = Int64(try row.decode(Int.self, column: 3))
        genre = try row.decode(String.self, column: 4)
        rating = try row.decode(Double?.self, column: 5)
        version = Int64(try row.decode(Int.self, column: 6))
        createdAt = Timestamp(microsecondsSinceEpoch: try row.decode(PostgresTimestamp.self, column: 7).microsecondsSinceEpoch)
        updatedAt = Timestamp(microsecondsSinceEpoch: try row.decode(PostgresTimestamp.self, column: 8).microsecondsSinceEpoch)
    }
}

/// `ETag` and `If-None-Match` for movies.
public enum MovieETag {
    /// `"<id>-<version>"`, quoted as RFC 9110 wants.
    public static func make(id: Int64, version: Int64) -> String { "\"\(id)-\(version)\"" }

    /// Whether an `If-None-Match` value names `etag` (``EntityTag/matches(ifNoneMatch:etag:)``).
    public static func matches(ifNoneMatch header: String, etag: String) -> Bool {
        EntityTag.matches(ifNoneMatch: header, etag: etag)
    }
}
