import ServiceKit

/// A movie's cache value and response body: the encoded JSON with its version in front.
///
/// The Redis value is `<version>|<movie JSON>` (`3|{"id":7,...}`): the Lua script reads the
/// version with one pattern match, and a hit serves the bytes after `|` as the response
/// body without decoding or re-encoding anything. Two other values mark an id that has no
/// movie: ``tombstone`` (deleted; refuses fills) and ``absent`` (unknown; negative cache).
public struct CachedMovie: Sendable, Equatable {
    public let id: Int64
    public let version: Int64
    /// The whole Redis value, `<version>|<json>`: a slice, so that the movies of one `MGET`
    /// answer share its buffer instead of a copy each.
    public let cacheValue: ArraySlice<UInt8>
    /// Where the JSON starts in ``cacheValue`` (an index of the slice).
    private let bodyStart: Int

    /// - Parameters:
    ///   - value: a Redis value whose JSON starts at index `bodyStart`.
    init(id: Int64, version: Int64, value: ArraySlice<UInt8>, bodyStart: Int) {
        self.id = id
        self.version = version
        self.cacheValue = value
        self.bodyStart = bodyStart
    }

    /// Encodes a movie once; the cache and the response share the bytes.
    public init(_ movie: Movie) {
        var value: [UInt8] = []
        value.reserveCapacity(320)
        value.append(contentsOf: String(movie.version).utf8)
        value.append(CacheValue.separator)
        let start = value.count
        value.append(contentsOf: movie.jsonBytes)
        self.init(id: movie.id, version: movie.version, value: value[...], bodyStart: start)
    }

    /// The movie's JSON, exactly as responses carry it.
    public var json: ArraySlice<UInt8> { cacheValue[bodyStart...] }

    public var etag: String { MovieETag.make(id: id, version: version) }
}

/// What a Redis value for `movie:{id}` says.
public enum CacheValue: Equatable, Sendable {
    case movie(CachedMovie)
    /// The movie was deleted a moment ago (the value ``tombstone``).
    case deleted
    /// The id was looked up a moment ago and did not exist (the value ``absent``).
    case absent

    static let separator = UInt8(ascii: "|")
    public static let tombstone: [UInt8] = [UInt8(ascii: "~")]
    public static let absentMarker: [UInt8] = [UInt8(ascii: "-")]

    /// Parses a value read from Redis; nil for anything we never write (treated as a miss).
    public static func parse(_ value: [UInt8], id: Int64) -> CacheValue? {
        parse(value[...], id: id)
    }

    /// ``parse(_:id:)-([UInt8],_)`` of a slice (an element of an `MGET` answer); the movie keeps the slice.
    public static func parse(_ value: ArraySlice<UInt8>, id: Int64) -> CacheValue? {
        guard let first = value.first else { return nil }
        if value.count == 1 {
            if first == tombstone[0] { return .deleted }
            if first == absentMarker[0] { return .absent }
        }
        var version: Int64 = 0
        var index = value.startIndex
        // At most 19 digits: an Int64 version, then the separator.
        let digitsEnd = min(value.endIndex, value.startIndex + 20)
        while index < digitsEnd {
            let byte = value[index]
            if byte == separator { break }
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            version = version &* 10 &+ Int64(byte &- 0x30)
            index += 1
        }
        guard index > value.startIndex, index + 1 < value.endIndex, value[index] == separator else { return nil }
        return .movie(CachedMovie(id: id, version: version, value: value, bodyStart: index + 1))
    }

    /// The Redis key of a movie: `movie:{id}`.
    public static func key(_ id: Int64) -> String { "movie:" + String(id) }

    /// What ``key(_:)`` puts before the id.
    static let keyPrefix = Array("movie:".utf8)
}
