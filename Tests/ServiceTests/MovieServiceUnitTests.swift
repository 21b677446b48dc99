import Redis
import HTTP
import Postgres
import Testing

@testable import MovieService
@testable import ServiceKit

/// The movie service's pure parts, without sockets: cache values, the script's name, ETags,
/// single flight, validation, SQL.
@Suite("MovieService units", .timeLimit(.minutes(5)))
struct MovieServiceUnitTests {
    static let movie = Movie(
        id: 7, title: "Inception", director: "Christopher Nolan", year: 2010, genre: "Sci-Fi", rating: 9.0,
        version: 3, createdAt: Timestamp(secondsSinceEpoch: 1_764_087_767),
        updatedAt: Timestamp(microsecondsSinceEpoch: 1_764_087_767_500_000))

    @Test func movieJSONIsFastAPIShaped() {
        let text = String(decoding: Self.movie.jsonBytes, as: UTF8.self)
        #expect(text == #"{"id":7,"title":"Inception","director":"Christopher Nolan","year":2010,"genre":"Sci-Fi","rating":9.0,"created_at":"2025-11-25T16:22:47Z","updated_at":"2025-11-25T16:22:47.5Z"}"#)
        var nulls = Self.movie
        nulls.director = nil
        nulls.rating = nil
        #expect(String(decoding: nulls.jsonBytes, as: UTF8.self).contains(#""director":null"#))
        #expect(String(decoding: nulls.jsonBytes, as: UTF8.self).contains(#""rating":null"#))
    }

    @Test func cachedValueRoundTrips() {
        let cached = CachedMovie(Self.movie)
        #expect(cached.cacheValue.starts(with: Array("3|{".utf8)))
        #expect(Array(cached.json) == Self.movie.jsonBytes)
        guard case .movie(let parsed)? = CacheValue.parse(cached.cacheValue, id: 7) else {
            Issue.record("not parsed as a movie")
            return
        }
        #expect(parsed.version == 3)
        #expect(Array(parsed.json) == Self.movie.jsonBytes)
        #expect(parsed.etag == #""7-3""#)
        // A value inside a larger buffer (an MGET answer): indexes are the slice's own.
        let shared = Array("xx".utf8) + Array(cached.cacheValue) + Array("yy".utf8)
        let slice = shared[2..<(shared.count - 2)]
        guard case .movie(let fromSlice)? = CacheValue.parse(slice, id: 7) else {
            Issue.record("slice not parsed as a movie")
            return
        }
        #expect(fromSlice.version == 3 && Array(fromSlice.json) == Self.movie.jsonBytes)
        #expect(CacheValue.parse(shared[2..<4], id: 7) == nil)  // "3|": no JSON after the separator
    }

    @Test func markersAndGarbage() {
        #expect(CacheValue.parse(CacheValue.tombstone, id: 1) == .deleted)
        #expect(CacheValue.parse(CacheValue.absentMarker, id: 1) == .absent)
        for garbage in ["", "|{}", "3|", "x|{}", "3{}", "99999999999999999999999|{}"] {
            #expect(CacheValue.parse(Array(garbage.utf8), id: 1) == nil, "\(garbage)")
        }
        #expect(CacheValue.key(42) == "movie:42")
        let ids: [Int64] = [1, 42, 9_000_000_000, .max]
        #expect(MovieCache.mgetCommand(ids).bytes == RedisCommand([Array("MGET".utf8)] + ids.map { Array(CacheValue.key($0).utf8) }).bytes)
    }

    @Test func scriptDigestIsSHA1() {
        #expect(SHA1.hexDigest(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hexDigest([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        let long = Array(String(repeating: "a", count: 1000).utf8)
        #expect(SHA1.hexDigest(long) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

    @Test func scriptCommands() {
        let ttl = CacheTTLs(entry: 3600, tombstone: 60, absent: 30)
        let put = CacheScript.command(.put(CachedMovie(Self.movie)), ttl: ttl)
        #expect(put.count == 8)
        #expect(String(decoding: put[0], as: UTF8.self) == "EVALSHA")
        #expect(String(decoding: put[1], as: UTF8.self) == CacheScript.sha)
        #expect(String(decoding: put[3], as: UTF8.self) == "movie:7")
        #expect(String(decoding: put[5], as: UTF8.self) == "3")
        #expect(String(decoding: put[7], as: UTF8.self) == "3600")
        let delete = CacheScript.command(.delete(id: 7), ttl: ttl, useSource: true)
        #expect(String(decoding: delete[0], as: UTF8.self) == "EVAL")
        #expect(String(decoding: delete[4], as: UTF8.self) == "delete")
        #expect(String(decoding: delete[7], as: UTF8.self) == "60")
        let absent = CacheScript.command(.absent(id: 7), ttl: ttl)
        #expect(String(decoding: absent[7], as: UTF8.self) == "30")
    }

    @Test func etagMatching() {
        let etag = #""7-3""#
        #expect(MovieETag.matches(ifNoneMatch: #""7-3""#, etag: etag))
        #expect(MovieETag.matches(ifNoneMatch: #"W/"7-3""#, etag: etag))
        #expect(MovieETag.matches(ifNoneMatch: #""1-1", "7-3""#, etag: etag))
        #expect(MovieETag.matches(ifNoneMatch: "*", etag: etag))
        #expect(!MovieETag.matches(ifNoneMatch: #""7-2""#, etag: etag))
        #expect(!MovieETag.matches(ifNoneMatch: "7-3", etag: etag))
    }

    @Test func singleFlightWalk() {
        var state = SingleFlightState<Int64, String>()
        #expect(state.arrive(1) == .lead)
        #expect(state.arrive(1) == .follow)
        state.park(1, "a")
        #expect(state.arrive(1) == .follow)
        state.park(1, "b")
        #expect(state.arrive(2) == .lead)
        #expect(state.inFlight == 2)
        #expect(state.waiterCount(1) == 2)
        #expect(state.finish(1) == ["a", "b"])
        #expect(state.finish(2) == [])
        #expect(state.inFlight == 0)
        // After a load ends, the next miss leads again.
        #expect(state.arrive(1) == .lead)
    }

    @Test func draftValidationCollectsEverything() throws {
        let object = try HTTPServerRequestJSON.object(#"{"title": "  ", "year": 1700, "genre": "X", "rating": 11}"#)
        do {
            _ = try MovieDraft(object)
            Issue.record("accepted")
        } catch {
            let locations = error.issues.map(\.locationText)
            #expect(locations == ["body.title", "body.year", "body.rating"])
            #expect(error.issues.map(\.kind) == [.stringTooShort, .greaterThanEqual, .lessThanEqual])
        }
        let missing = try HTTPServerRequestJSON.object("{}")
        do {
            _ = try MovieDraft(missing)
            Issue.record("accepted")
        } catch {
            #expect(error.issues.map(\.locationText) == ["body.title", "body.year", "body.genre"])
            #expect(error.issues.allSatisfy { $0.kind == .missing })
        }
        let good = try MovieDraft(
            try HTTPServerRequestJSON.object(#"{"title": " Heat ", "director": null, "year": 1995, "genre": "Crime"}"#))
        #expect(good == MovieDraft(title: "Heat", director: nil, year: 1995, genre: "Crime", rating: nil))
        let edges = try MovieDraft(try HTTPServerRequestJSON.object(
            #"{"title": "T", "director": "", "year": 2100, "genre": "G", "rating": 10}"#))
        #expect(edges.rating == 10.0 && edges.director == "" && edges.year == 2100)
    }

    @Test func patchDistinguishesAbsentFromNull() throws {
        let patch = try MoviePatch(try HTTPServerRequestJSON.object(#"{"rating": null, "year": 1999}"#))
        #expect(patch.rating == .some(nil))
        #expect(patch.director == nil)
        #expect(patch.year == 1999)
        #expect(try MoviePatch(try HTTPServerRequestJSON.object("{}")).isEmpty)
        #expect(throws: ServiceError.self) { try MoviePatch(try HTTPServerRequestJSON.object(#"{"title": null}"#)) }
        #expect(throws: ServiceError.self) { try MoviePatch(try HTTPServerRequestJSON.object(#"{"genre": ""}"#)) }

        let statement = try #require(MovieSQL.update(id: 5, patch))
        #expect(statement.sql.contains("year = $2, rating = $3, version = version + 1"))
        #expect(statement.parameters == [.int(5), .int(1999), .null])
        #expect(MovieSQL.update(id: 5, MoviePatch()) == nil)
    }

    @Test func aBatchsIdsAreTakenOnceInTheOrderFirstGiven() {
        #expect(MovieCatalog.distinct([3, 1, 2]) == [3, 1, 2])
        #expect(MovieCatalog.distinct([3, 1, 3, 2, 1]) == [3, 1, 2])
        #expect(MovieCatalog.distinct([0, 5, -1, 5]) == [5])
        #expect(MovieCatalog.distinct([0, 5, -1]) == [5])
        #expect(MovieCatalog.distinct([]) == [])
        #expect(MovieCatalog.distinct([-2, -2]) == [])
    }
}

/// Parses test bodies the way the handlers do.
enum HTTPServerRequestJSON {
    static func object(_ text: String) throws -> JSONObject {
        try HTTPServerRequest.decodeJSONObject(Array(text.utf8))
    }
}
