import ServiceKit

/// The validation rules of API.md for movie bodies, in one place.
///
/// Strings are trimmed before their length is checked and stored trimmed (a title of
/// spaces is empty, not a title). `director` and `rating` may be `null`; the other fields
/// may not.
public enum MovieRules {
    public static let title = 1...200
    public static let director = 0...200
    public static let year: ClosedRange<Int64> = 1878...2100
    public static let genre = 1...50
    public static let rating: ClosedRange<Double> = 0.0...10.0
    /// A movie id: positive, as PostgreSQL assigns them (a batch's ids are checked against it).
    public static let id: ClosedRange<Int64> = 1...Int64.max
    /// `POST /api/movies/batch`: how many ids one call may ask for.
    public static let batchSize = 1...1000
}

/// A validated `POST /api/movies` body.
public struct MovieDraft: Sendable, Equatable {
    public var title: String
    public var director: String?
    public var year: Int64
    public var genre: String
    public var rating: Double?

    public init(title: String, director: String?, year: Int64, genre: String, rating: Double?) {
        self.title = title
        self.director = director
        self.year = year
        self.genre = genre
        self.rating = rating
    }

    /// Validates a body, collecting every problem (FastAPI's 422 list).
    /// - Throws: ``ServiceError`` 422.
    public init(_ object: JSONObject) throws(ServiceError) {
        var body = JSONFields(object)
        let title = body.string("title", length: MovieRules.title, trimming: true)
        let director = body.optionalString("director", length: MovieRules.director, trimming: true, nullable: true)
        let year = body.int("year", range: MovieRules.year)
        let genre = body.string("genre", length: MovieRules.genre, trimming: true)
        let rating = body.optionalDouble("rating", range: MovieRules.rating, nullable: true)
        let (t, y, g) = try body.finish(title, year, genre)
        self.init(title: t, director: director.value, year: y, genre: g, rating: rating.value)
    }
}

/// A validated `PUT`/`PATCH /api/movies/{id}` body: any subset of the fields.
///
/// An absent field keeps its value; `null` clears `director` or `rating`. An empty subset
/// (`{}`) is accepted and changes nothing, as the seed's all-optional update model did.
public struct MoviePatch: Sendable, Equatable {
    public var title: String?
    /// nil: keep; `.some(nil)`: clear.
    public var director: String??
    public var year: Int64?
    public var genre: String?
    public var rating: Double??

    public init(
        title: String? = nil, director: String?? = nil, year: Int64? = nil, genre: String? = nil,
        rating: Double?? = nil
    ) {
        self.title = title
        self.director = director
        self.year = year
        self.genre = genre
        self.rating = rating
    }

    /// - Throws: ``ServiceError`` 422.
    public init(_ object: JSONObject) throws(ServiceError) {
        var body = JSONFields(object)
        let title = body.optionalString("title", length: MovieRules.title, trimming: true)
        let director = body.optionalString("director", length: MovieRules.director, trimming: true, nullable: true)
        let year = body.optionalInt("year", range: MovieRules.year)
        let genre = body.optionalString("genre", length: MovieRules.genre, trimming: true)
        let rating = body.optionalDouble("rating", range: MovieRules.rating, nullable: true)
        if !body.issues.isEmpty { throw ServiceError.validation(body.issues) }
        self.init(title: title.value, director: director.update, year: year.value, genre: genre.value,
                  rating: rating.update)
    }

    /// True when the patch changes nothing.
    public var isEmpty: Bool { title == nil && director == nil && year == nil && genre == nil && rating == nil }
}
