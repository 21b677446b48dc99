import Testing

@testable import HTTP

/// The keep-alive and framing rules of a client connection, without sockets.
@Suite("HTTP client connection state", .timeLimit(.minutes(5)))
struct ClientConnectionStateTests {
    static func request(_ method: HTTPMethod = .GET, _ headers: HTTPHeaders = [:]) -> HTTPRequestHead {
        HTTPRequestHead(method: method, target: "/", headers: headers)
    }

    static func response(_ version: HTTPVersion = .http1_1, _ headers: HTTPHeaders = [:]) -> HTTPResponseHead {
        HTTPResponseHead(status: .ok, version: version, headers: headers)
    }

    /// Runs one exchange and tells whether the connection may be reused.
    static func reusable(
        request: HTTPRequestHead = request(), response: HTTPResponseHead = response(),
        bodyKind: HTTPBodyKind = .length(1), leftover: Bool = false
    ) throws -> Bool {
        var state = HTTPClientConnectionState()
        try state.requestHeadSent(request)
        _ = try state.requestFinished()
        state.responseHeadReceived(response, bodyKind: bodyKind)
        state.responseEnded(leftoverBytes: leftover)
        return state.isReusable
    }

    @Test func aCompleteKeepAliveExchangeIsReusable() throws {
        #expect(try Self.reusable())
        #expect(try Self.reusable(bodyKind: .chunked))
        #expect(try Self.reusable(response: Self.response(.http1_0, ["Connection": "keep-alive"])))
    }

    @Test func closeHTTP10UntilCloseAndLeftoversAreNotReusable() throws {
        #expect(try !Self.reusable(request: Self.request(.GET, ["Connection": "close"])))
        #expect(try !Self.reusable(response: Self.response(.http1_1, ["Connection": "close"])))
        #expect(try !Self.reusable(response: Self.response(.http1_0)))
        #expect(try !Self.reusable(bodyKind: .untilClose))
        #expect(try !Self.reusable(leftover: true))
        var state = HTTPClientConnectionState()
        try state.requestHeadSent(Self.request())
        state.responseHeadReceived(HTTPResponseHead(status: .switchingProtocols), bodyKind: .untilClose)
        state.responseEnded(leftoverBytes: false)
        #expect(!state.isReusable)
    }

    @Test func aResponseInProgressIsNotReusable() throws {
        var state = HTTPClientConnectionState()
        #expect(state.isReusable)
        try state.requestHeadSent(Self.request())
        #expect(!state.isReusable)
        state.responseHeadReceived(Self.response(), bodyKind: .length(5))
        #expect(!state.isReusable)
        state.failed()
        #expect(!state.isReusable)
    }

    @Test func contentLengthBodiesMustMatchTheirLength() throws {
        var state = HTTPClientConnectionState()
        try state.requestHeadSent(Self.request(.POST, ["Content-Length": "5"]))
        #expect(try state.bodyBytesSent(3) == false)
        #expect(throws: HTTPClientConnectionState.Misuse.self) { try state.requestFinished() }

        state = HTTPClientConnectionState()
        try state.requestHeadSent(Self.request(.POST, ["Content-Length": "5"]))
        #expect(throws: HTTPClientConnectionState.Misuse.self) { _ = try state.bodyBytesSent(6) }

        state = HTTPClientConnectionState()
        try state.requestHeadSent(Self.request(.POST, ["Content-Length": "5"]))
        _ = try state.bodyBytesSent(5)
        #expect(try state.requestFinished() == false)
        #expect(state.mayReadHead)
    }

    @Test func chunkedBodiesAreFramedAndTerminated() throws {
        var state = HTTPClientConnectionState()
        try state.requestHeadSent(Self.request(.PUT, ["Transfer-Encoding": "chunked"]))
        #expect(try state.bodyBytesSent(100) == true)
        #expect(try state.requestFinished() == true)
        #expect(state.mayReadHead)
    }

    @Test func requestsWithoutBodyAreCompleteAfterTheirHead() throws {
        var state = HTTPClientConnectionState()
        try state.requestHeadSent(Self.request())
        #expect(state.mayReadHead)
        #expect(throws: HTTPClientConnectionState.Misuse.self) { _ = try state.bodyBytesSent(1) }
    }

    @Test func aSecondRequestBeforeTheResponseIsRefused() throws {
        var state = HTTPClientConnectionState()
        try state.requestHeadSent(Self.request())
        #expect(throws: HTTPClientConnectionState.Misuse.self) { try state.requestHeadSent(Self.request()) }
    }
}

@Suite("HTTP client URLs and requests", .timeLimit(.minutes(5)))
struct ClientRequestTests {
    @Test(arguments: [
        ("http://users:8001/users/7", "http", "users", 8001, "/users/7"),
        ("http://127.0.0.1/", "http", "127.0.0.1", 80, "/"),
        ("https://example.com", "https", "example.com", 443, "/"),
        ("HTTP://h:81?x=1#frag", "http", "h", 81, "/?x=1"),
        ("http://[::1]:9000/a?b", "http", "::1", 9000, "/a?b"),
    ])
    func urlsSplitIntoOriginAndTarget(url: String, scheme: String, host: String, port: Int, target: String) throws {
        let (origin, parsedTarget) = try #require(HTTPOrigin.split(url: url))
        #expect(origin == HTTPOrigin(scheme: scheme, host: host, port: port))
        #expect(parsedTarget == target)
    }

    @Test(arguments: ["ftp://h/", "http:/h", "http://", "http://u@h/", "http://h:99999/", "http://h:x/", "/path"])
    func malformedURLsAreRefused(url: String) {
        #expect(HTTPOrigin.split(url: url) == nil)
    }

    @Test func hostHeadersOmitDefaultPortsAndBracketIPv6() {
        #expect(HTTPOrigin(host: "a", port: 80).hostHeader == "a")
        #expect(HTTPOrigin(host: "a", port: 8080).hostHeader == "a:8080")
        #expect(HTTPOrigin(scheme: "https", host: "::1", port: 443).hostHeader == "[::1]")
    }

    @Test func wireHeadsGetHostAndContentLength() throws {
        let get = try HTTPClientRequest(url: "http://movies:8002/movies/1").wireHead
        #expect(get.headers["host"] == "movies:8002")
        #expect(get.headers["content-length"] == nil)
        let post = try HTTPClientRequest(method: .POST, url: "http://m/movies/batch", body: [1, 2, 3]).wireHead
        #expect(post.headers["content-length"] == "3")
        let emptyPost = try HTTPClientRequest(method: .POST, url: "http://m/x", headers: ["Host": "given"]).wireHead
        #expect(emptyPost.headers["content-length"] == "0")
        #expect(emptyPost.headers.values("host") == ["given"])
    }
}
