import HTTP

/// What came back for one ``LoadRequest``: enough for the figures, nothing more on the hot path.
public struct LoadResult: Sendable {
    /// The response status code, or 0 when no response arrived (see ``error``).
    public var status: Int
    /// The response's `X-Cache` header, classified.
    public var cache: CacheOutcome
    /// Bytes of response body received.
    public var bytes: Int
    /// Why no (complete) response arrived; nil on success at the HTTP level (any status).
    public var error: LoadErrorKind?
    /// The response head, only when the request asked for ``LoadRequest/collectBody``.
    public var head: HTTPResponseHead?
    /// The response body, only when the request asked for ``LoadRequest/collectBody``.
    public var body: [UInt8]

    public init(
        status: Int, cache: CacheOutcome = .none, bytes: Int = 0, error: LoadErrorKind? = nil,
        head: HTTPResponseHead? = nil, body: [UInt8] = []
    ) {
        self.status = status
        self.cache = cache
        self.bytes = bytes
        self.error = error
        self.head = head
        self.body = body
    }

    public static func failed(_ kind: LoadErrorKind) -> LoadResult {
        LoadResult(status: 0, error: kind)
    }

    /// Whether this counts against the error rate: no response, a 5xx, or a 429.
    ///
    /// Other 4xx are not errors here: a write scenario's 409 (already on the list) and 404
    /// (already removed) are the API doing its job. They are still counted by status. A 429
    /// is: the request was refused, and a run that the gateway rate-limits measures the
    /// limiter, not the system.
    public var isError: Bool { error != nil || status >= 500 || status == 429 }
}

/// The `X-Cache` header's verdict on a response.
public enum CacheOutcome: Sendable, Hashable {
    case hit, miss, none

    /// Classifies a header value: `HIT`/`MISS` (any case, a prefix is enough: `HIT from x`).
    public init(headerValue: String?) {
        guard let value = headerValue?.uppercased() else {
            self = .none
            return
        }
        if value.hasPrefix("HIT") {
            self = .hit
        } else if value.hasPrefix("MISS") {
            self = .miss
        } else {
            self = .none
        }
    }
}

/// Why a request got no usable response, grouped the way a person debugging a run asks.
public enum LoadErrorKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// The connection could not be made (refused, unreachable, DNS).
    case connect
    /// No complete response before the request timeout.
    case timeout
    /// The server closed or reset the connection mid-request.
    case reset
    /// The response was not valid HTTP/1.1.
    case `protocol`
    /// The TLS handshake or session failed.
    case tls
    /// Anything else.
    case other
}
