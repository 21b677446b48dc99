/// A request for ``HTTPClient/execute(_:timeout:)``: a whole body in memory (replayable,
/// so an idempotent request can be retried on a stale connection).
public struct HTTPClientRequest: Sendable {
    public var method: HTTPMethod
    public var origin: HTTPOrigin
    /// Origin-form target: `/movies/42?x=1`.
    public var target: String
    /// Sent as given, plus `Host` when missing and `Content-Length` for the body.
    public var headers: HTTPHeaders
    public var body: [UInt8]?

    public init(
        method: HTTPMethod = .GET, origin: HTTPOrigin, target: String, headers: HTTPHeaders = [:],
        body: [UInt8]? = nil
    ) {
        self.method = method
        self.origin = origin
        self.target = target
        self.headers = headers
        self.body = body
    }

    /// A request to an absolute `http://` or `https://` URL.
    /// - Throws: ``HTTPClientError`` `.invalidURL`.
    public init(
        method: HTTPMethod = .GET, url: String, headers: HTTPHeaders = [:], body: [UInt8]? = nil
    ) throws(HTTPClientError) {
        guard let (origin, target) = HTTPOrigin.split(url: url) else {
            throw HTTPClientError(.invalidURL, requestMayHaveBeenSent: false)
        }
        self.init(method: method, origin: origin, target: target, headers: headers, body: body)
    }

    /// The head as it goes on the wire: `Host` added when absent, `Content-Length` set
    /// from the body (and `0` for POST/PUT/PATCH without one, which some servers require).
    public var wireHead: HTTPRequestHead {
        var head = HTTPRequestHead(method: method, target: target, headers: headers)
        if !head.headers.contains(.host) {
            head.headers.add(.host, value: origin.hostHeader)
        }
        if let body {
            head.headers.replaceOrAdd(.contentLength, value: String(body.count))
        } else if method == .POST || method == .PUT || method == .PATCH {
            head.headers.replaceOrAdd(.contentLength, value: "0")
        }
        return head
    }
}

/// A complete response: its head and its body collected in memory.
public struct HTTPClientResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: [UInt8]

    public init(head: HTTPResponseHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }

    public var status: HTTPStatus { head.status }
    public var headers: HTTPHeaders { head.headers }
}
