/// The head of a response: status line and header fields.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: HTTPStatus
    public var version: HTTPVersion
    public var headers: HTTPHeaders

    public init(status: HTTPStatus, version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:]) {
        self.status = status
        self.version = version
        self.headers = headers
    }

    /// Whether the server keeps the connection open, by the same rule as requests.
    ///
    /// A response whose body runs until the connection closes cannot be kept alive whatever
    /// its headers say: check the parser's `bodyKind` too.
    public var keepAlive: Bool {
        HTTPRequestHead.keepAlive(version: version, headers: headers)
    }

    /// Equality includes the reason phrase, unlike `HTTPStatus`'s, so that a round trip
    /// through the serializer and the parser is checked byte for byte.
    public static func == (lhs: HTTPResponseHead, rhs: HTTPResponseHead) -> Bool {
        lhs.status == rhs.status && lhs.status.reasonPhrase == rhs.status.reasonPhrase
            && lhs.version == rhs.version && lhs.headers == rhs.headers
    }
}
