import Reactor

/// Why an HTTP client call failed.
///
/// One public struct with an extensible ``Code``, like every Marquee module's error. Two
/// flags tell a caller what it may do next:
/// - ``requestMayHaveBeenSent``: false only when no byte of the request reached a socket
///   (connect failures, pool timeouts); a proxy may then try another upstream for any
///   method, and answers 502/503 rather than 504.
/// - ``isStaleConnection``: the request went out on a reused keep-alive connection that
///   the server had closed, and no byte of a response came back; the client itself retries
///   such a request once on a fresh connection when it is idempotent.
/// - ``responseBytesReceived``: some of a response had arrived. An idempotent request that
///   failed before that may be sent again (to another instance: a proxy's retry).
///
/// Services map codes to statuses: `.connectFailed`, `.connectTimeout`, `.poolTimeout`,
/// `.poolQueueFull` → 503 (the dependency is unavailable); `.responseTimeout`,
/// `.readTimeout` → 504; the others → 502.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case connectFailed, connectTimeout, responseTimeout, readTimeout, writeTimeout
            case connectionClosed, invalidResponse, poolTimeout, poolQueueFull, bodyTooLarge
            case invalidURL, unsupportedScheme, shutdown, cancelled, invalidRequest
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        public var description: String { base.rawValue }

        /// The connection could not be made (refused, unreachable, name not resolved,
        /// transport handshake failed). The request was never sent.
        public static let connectFailed = Code(.connectFailed)
        /// The connection was not established within `connectTimeout`. Never sent.
        public static let connectTimeout = Code(.connectTimeout)
        /// No complete response head arrived within `responseTimeout` of sending.
        public static let responseTimeout = Code(.responseTimeout)
        /// The response body stalled for longer than `ioTimeout`.
        public static let readTimeout = Code(.readTimeout)
        /// The server did not accept request bytes for longer than `ioTimeout`.
        public static let writeTimeout = Code(.writeTimeout)
        /// The server closed (or reset) the connection before a complete response.
        public static let connectionClosed = Code(.connectionClosed)
        /// The response broke HTTP/1.1; ``HTTPClientError/parseError`` says how.
        public static let invalidResponse = Code(.invalidResponse)
        /// Every connection to the origin stayed busy for `poolWaitTimeout`. Never sent.
        public static let poolTimeout = Code(.poolTimeout)
        /// The origin's wait queue was full (`maxWaitersPerOrigin`). Never sent.
        public static let poolQueueFull = Code(.poolQueueFull)
        /// The response body is larger than `maxResponseBodySize` (collecting calls only).
        public static let bodyTooLarge = Code(.bodyTooLarge)
        /// The URL is not `http://host[:port]/...` or `https://...`.
        public static let invalidURL = Code(.invalidURL)
        /// `https` without a `makeTransport` hook, or a scheme other than http/https.
        public static let unsupportedScheme = Code(.unsupportedScheme)
        /// The client was shut down.
        public static let shutdown = Code(.shutdown)
        /// The calling task was cancelled.
        public static let cancelled = Code(.cancelled)
        /// The caller used a connection out of order (a body larger than its
        /// `Content-Length`, a head read before the request was finished, ...).
        public static let invalidRequest = Code(.invalidRequest)
    }

    public let code: Code
    /// False only when no byte of the request was handed to a socket.
    public let requestMayHaveBeenSent: Bool
    /// A reused keep-alive connection was closed by the server before any response byte.
    public let isStaleConnection: Bool
    /// Whether any byte of the response had arrived when the call failed.
    public let responseBytesReceived: Bool
    /// The parser's verdict for `.invalidResponse` (and for truncated responses).
    public let parseError: HTTPParseError?
    /// The I/O or transport error behind this one, if any.
    public let underlying: (any Error)?
    public let file: String
    public let line: Int

    public init(
        _ code: Code, requestMayHaveBeenSent: Bool, isStaleConnection: Bool = false,
        responseBytesReceived: Bool = false, parseError: HTTPParseError? = nil, underlying: (any Error)? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.requestMayHaveBeenSent = requestMayHaveBeenSent
        self.isStaleConnection = isStaleConnection
        self.responseBytesReceived = responseBytesReceived
        self.parseError = parseError
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var description: String {
        "HTTPClientError(\(code)\(requestMayHaveBeenSent ? "" : ", not sent"))"
    }

    public var debugDescription: String {
        var text = "HTTPClientError(\(code), requestMayHaveBeenSent: \(requestMayHaveBeenSent)"
        if isStaleConnection { text += ", stale connection" }
        if responseBytesReceived { text += ", response begun" }
        if let parseError { text += ", \(parseError)" }
        if let underlying { text += ", underlying: \(underlying)" }
        return text + ", at \(file):\(line))"
    }
}
