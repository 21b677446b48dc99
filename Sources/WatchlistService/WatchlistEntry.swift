import Postgres
import ServiceKit

/// One movie on one user's watchlist: API.md's entry object
/// `{"id", "user_id", "movie_id", "added_at"}`.
public struct WatchlistEntry: Sendable, Hashable, JSONEncodable {
    public var id: Int64
    public var userID: Int64
    public var movieID: Int64
    public var addedAt: Timestamp

    public init(id: Int64, userID: Int64, movieID: Int64, addedAt: Timestamp) {
        self.id = id
        self.userID = userID
        self.movieID = movieID
        self.addedAt = addedAt
    }

    public func encode(to json: inout JSONWriter) {
        json.object { writeFields(to: &$0) }
    }

    /// The four members without the braces, so that the list can add `"movie"` to them.
    func writeFields(to json: inout JSONWriter) {
        json.key(Self.keys.id)
        json.value(id)
        json.key(Self.keys.userID)
        json.value(userID)
        json.key(Self.keys.movieID)
        json.value(movieID)
        json.key(Self.keys.addedAt)
        json.value(addedAt)
    }

    /// The member names, encoded once (not again on every entry of a list).
    static let keys = (
        id: JSONKey("id"), userID: JSONKey("user_id"), movieID: JSONKey("movie_id"), addedAt: JSONKey("added_at"),
        movie: JSONKey("movie")
    )

    /// The columns every entry query selects, in this order (``init(row:)`` reads them by index).
    static let columns = "id, user_id, movie_id, added_at"

    /// Reads a row selected with ``columns``.
    /// - Throws: ``PostgresError`` when a column does not have the expected type.
    init(row: PostgresRow) throws(PostgresError) {
        id = try row.decode(Int64.self, column: 0)
        userID = try row.decode(Int64.self, column: 1)
        movieID = try row.decode(Int64.self, column: 2)
        addedAt = Timestamp(postgres: try row.decode(PostgresTimestamp.self, column: 3))
    }
}

extension Timestamp {
    /// The same instant as the driver's timestamp (both count microseconds since 1970, UTC).
    init(postgres timestamp: PostgresTimestamp) {
        self.init(microsecondsSinceEpoch: timestamp.microsecondsSinceEpoch)
    }
}
