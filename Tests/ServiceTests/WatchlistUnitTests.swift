import HTTP
import ServiceKit
import Testing

@testable import WatchlistService

/// The watchlist service's pure parts: error mapping, upstream URLs, the entry's JSON.
@Suite(.timeLimit(.minutes(5))) struct WatchlistUnitTests {
    @Test func clientFailuresMapTo503504Or502() {
        let unavailable: [HTTPClientError.Code] = [.connectFailed, .connectTimeout, .poolTimeout, .poolQueueFull]
        for code in unavailable {
            #expect(Upstreams.code(for: HTTPClientError(code, requestMayHaveBeenSent: false)) == .unavailable)
        }
        for code in [HTTPClientError.Code.responseTimeout, .readTimeout, .writeTimeout] {
            #expect(Upstreams.code(for: HTTPClientError(code, requestMayHaveBeenSent: true)) == .timedOut)
        }
        for code in [HTTPClientError.Code.connectionClosed, .invalidResponse, .bodyTooLarge] {
            #expect(Upstreams.code(for: HTTPClientError(code, requestMayHaveBeenSent: true)) == .badResponse)
        }
    }

    @Test func errorsNameTheUpstream() throws {
        let down = WatchlistError(.unavailable, upstream: "Movie service")
        #expect(down.status.code == 503)
        #expect(String(decoding: down.jsonBody, as: UTF8.self) == #"{"detail":"Movie service unavailable"}"#)
        let slow = WatchlistError(.timedOut, upstream: "User service")
        #expect(slow.status.code == 504)
        #expect(try JSONParser.parse(slow.jsonBody)["detail"]?.stringValue == "User service timed out")
        let broken = WatchlistError(.badResponse, upstream: "Movie service")
        #expect(broken.status.code == 502)
        #expect(
            try JSONParser.parse(broken.jsonBody)["detail"]?.stringValue
                == "Movie service returned an invalid response")
    }

    @Test func endpointsKeepABasePathWithoutItsTrailingSlash() throws {
        let plain = try #require(Upstreams.Endpoint(baseURL: "http://127.0.0.1:8002", name: "M", metric: .movieService))
        #expect(plain.origin == HTTPOrigin(host: "127.0.0.1", port: 8002))
        #expect(plain.pathPrefix == "")
        let slash = try #require(Upstreams.Endpoint(baseURL: "http://movies:8002/", name: "M", metric: .movieService))
        #expect(slash.pathPrefix == "")
        let prefixed = try #require(
            Upstreams.Endpoint(baseURL: "http://gw.internal/movies-v1/", name: "M", metric: .movieService))
        #expect(prefixed.origin == HTTPOrigin(host: "gw.internal", port: 80))
        #expect(prefixed.pathPrefix == "/movies-v1")
        #expect(Upstreams.Endpoint(baseURL: "ftp://movies", name: "M", metric: .movieService) == nil)
        #expect(Upstreams.Endpoint(baseURL: "http://user:pw@movies", name: "M", metric: .movieService) == nil)
    }

    @Test func entriesEncodeAsTheAPISays() {
        let entry = WatchlistEntry(
            id: 7, userID: 1, movieID: 42, addedAt: Timestamp(microsecondsSinceEpoch: 1_795_623_767_123_456))
        #expect(
            String(decoding: entry.jsonBytes, as: UTF8.self)
                == #"{"id":7,"user_id":1,"movie_id":42,"added_at":"2026-11-25T16:22:47.123456Z"}"#)
    }

    // MARK: The batch answer kept as bytes

    private func written(_ body: (inout JSONWriter) -> Void) -> String {
        var json = JSONWriter()
        body(&json)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    @Test func aBatchAnswerIsCopiedIntoSummariesAndExports() throws {
        let answer = #"""
            [{"id":3,"title":"Amélie \"A\"","director":null,"year":2001,"genre":"Drama","rating":8.0,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z"},
             {"id": 5, "title": "Five", "year": 1999, "genre": "Comedy", "added_at": "x", "title": "Five again"}]
            """#
        let batch = try #require(MovieBatch(body: Array(answer.utf8)))
        #expect(batch.count == 2)
        #expect(batch.contains(3) && batch.contains(5) && !batch.contains(4))
        #expect(
            written { batch.writeSummary(of: 3, to: &$0) }
                == #"{"id":3,"title":"Amélie \"A\"","director":null,"year":2001,"genre":"Drama","rating":8.0}"#)
        // A member the movie lacks is null; a name written twice keeps its last value.
        #expect(
            written { batch.writeSummary(of: 5, to: &$0) }
                == #"{"id":5,"title":"Five again","director":null,"year":1999,"genre":"Comedy","rating":null}"#)
        #expect(written { batch.writeSummary(of: 4, to: &$0) } == "null")
        #expect(
            written { json in json.object { batch.writeMembers(of: 5, excluding: "added_at", to: &$0) } }
                == #"{"id":5,"title":"Five again","year":1999,"genre":"Comedy"}"#)
        // What the copy gives is what decoding and encoding gave before.
        let parsed = try JSONParser.parse(Array(answer.utf8))
        for case .object(let movie) in parsed.arrayValue ?? [] {
            let id = try #require(movie["id"]?.intValue)
            let summary = written { json in
                json.object { object in
                    for field in MovieBatch.summaryFields.map({ String(decoding: $0, as: UTF8.self) }) { object.field(field, movie[field] ?? .null) }
                }
            }
            #expect(written { batch.writeSummary(of: id, to: &$0) } == summary)
        }
    }

    @Test func aBatchAnswerThatIsNotMoviesIsRefused() {
        for answer in [
            "", "{}", "[1]", #"[{"title": "no id"}]"#, #"[{"id": "7"}]"#, #"[{"id": 7.5}]"#, #"[{"id": 7}"#,
            #"[{"id": 7, "title": "\u00"}]"#,
        ] {
            #expect(MovieBatch(body: Array(answer.utf8)) == nil, "\(answer)")
        }
        #expect(MovieBatch(body: Array(#"[{"id": 7.0}]"#.utf8))?.contains(7) == true)
        #expect(MovieBatch(body: Array("[]".utf8))?.count == 0)
    }

    /// Movies found by id in any order; one listed twice counts once, with its last copy.
    @Test func moviesAreFoundByIdAndTheLastCopyWins() throws {
        let ids: [Int64] = [40, 3, 17, 99, 1, 25, 8, 60]
        var answer = ids.map { #"{"id":\#($0),"title":"m\#($0)"}"# }
        answer.insert(#"{"id":17,"title":"first 17"}"#, at: 1)
        let batch = try #require(MovieBatch(body: Array("[\(answer.joined(separator: ","))]".utf8)))
        #expect(batch.count == ids.count)
        for id in ids {
            #expect(
                written { batch.writeSummary(of: id, to: &$0) }
                    == #"{"id":\#(id),"title":"m\#(id)","director":null,"year":null,"genre":null,"rating":null}"#)
        }
        for absent: Int64 in [0, 2, 18, 100, -1] { #expect(!batch.contains(absent)) }
    }

    @Test func batchIdsAreDistinctInFirstOrder() {
        #expect(WatchlistRoutes.distinct([5, 3, 9]) == [5, 3, 9])
        #expect(WatchlistRoutes.distinct([5, 3, 5, 9, 3]) == [5, 3, 9])
        #expect(WatchlistRoutes.distinct([]) == [])
    }

}
