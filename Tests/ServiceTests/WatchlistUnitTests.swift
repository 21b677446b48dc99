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
}
