/// Why a message could not be parsed.
///
/// The description names the rule that was broken and never echoes the peer's bytes (they
/// may hold credentials, and logging them invites log injection). It carries no file/line:
/// each code is raised from one place, so the code is the location.
public struct HTTPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of error; extensible without breaking callers that `switch` over `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidRequestLine, invalidMethod, invalidRequestTarget, invalidVersion, versionNotSupported
            case invalidStatusLine, invalidLineEnding, invalidHeaderName, invalidHeaderValue, obsFold
            case whitespaceBeforeColon, missingHost, multipleHosts, conflictingLengths, invalidContentLength
            case invalidTransferEncoding, unsupportedTransferEncoding, invalidChunkSize, invalidChunkExtension
            case invalidChunkTerminator, chunkLineTooLong, requestLineTooLong, statusLineTooLong
            case headersTooLarge, tooManyHeaders, bodyTooLarge, truncatedMessage, noResponse
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        public var description: String { base.rawValue }

        /// The request line is not `method SP target SP version CRLF`.
        public static let invalidRequestLine = Code(.invalidRequestLine)
        /// The method is empty or not a token.
        public static let invalidMethod = Code(.invalidMethod)
        /// The target has a byte outside visible ASCII or a form the method does not allow.
        public static let invalidRequestTarget = Code(.invalidRequestTarget)
        /// The version is not `HTTP/DIGIT.DIGIT`.
        public static let invalidVersion = Code(.invalidVersion)
        /// A well-formed version whose major is not 1 (→ 505).
        public static let versionNotSupported = Code(.versionNotSupported)
        /// The status line is not `version SP 3DIGIT SP reason CRLF`.
        public static let invalidStatusLine = Code(.invalidStatusLine)
        /// A bare LF (or a CR without LF) ends a line of the head, the chunk lines or trailers.
        public static let invalidLineEnding = Code(.invalidLineEnding)
        /// A field name is empty or not a token.
        public static let invalidHeaderName = Code(.invalidHeaderName)
        /// A field value holds a control byte (NUL, CR, LF, DEL, ...).
        public static let invalidHeaderValue = Code(.invalidHeaderValue)
        /// A field line starts with whitespace (obsolete line folding, RFC 9112 §5.2).
        public static let obsFold = Code(.obsFold)
        /// Whitespace between a field name and its colon (RFC 9112 §5.1).
        public static let whitespaceBeforeColon = Code(.whitespaceBeforeColon)
        /// An HTTP/1.1 request without `Host`.
        public static let missingHost = Code(.missingHost)
        /// A request with more than one `Host` field line.
        public static let multipleHosts = Code(.multipleHosts)
        /// Both `Content-Length` and `Transfer-Encoding`: the classic smuggling vector.
        public static let conflictingLengths = Code(.conflictingLengths)
        /// `Content-Length` is not digits, overflows, or differs between copies.
        public static let invalidContentLength = Code(.invalidContentLength)
        /// `Transfer-Encoding` is malformed or does not end in exactly one `chunked`
        /// (or appears in an HTTP/1.0 request).
        public static let invalidTransferEncoding = Code(.invalidTransferEncoding)
        /// `Transfer-Encoding` applies a coding before `chunked` that we do not decode (→ 501).
        public static let unsupportedTransferEncoding = Code(.unsupportedTransferEncoding)
        /// A chunk size is missing, not hexadecimal, or overflows.
        public static let invalidChunkSize = Code(.invalidChunkSize)
        /// A chunk extension is not `; token [= token / quoted-string]`.
        public static let invalidChunkExtension = Code(.invalidChunkExtension)
        /// Chunk data is not followed by CRLF.
        public static let invalidChunkTerminator = Code(.invalidChunkTerminator)
        /// A chunk-size line (with extensions) is longer than the limit.
        public static let chunkLineTooLong = Code(.chunkLineTooLong)
        /// The request line is longer than the limit (→ 414).
        public static let requestLineTooLong = Code(.requestLineTooLong)
        /// The status line is longer than the limit.
        public static let statusLineTooLong = Code(.statusLineTooLong)
        /// The header (or trailer) section is larger than the limit (→ 431).
        public static let headersTooLarge = Code(.headersTooLarge)
        /// More field lines than the limit (→ 431).
        public static let tooManyHeaders = Code(.tooManyHeaders)
        /// The body is larger than the limit (→ 413).
        public static let bodyTooLarge = Code(.bodyTooLarge)
        /// The connection closed in the middle of a message.
        public static let truncatedMessage = Code(.truncatedMessage)
        /// The connection closed before any byte of a response (a stale keep-alive
        /// connection: an idempotent request may be retried).
        public static let noResponse = Code(.noResponse)
    }

    public var code: Code

    public init(_ code: Code) {
        self.code = code
    }

    /// The status a server answers a request with when parsing it failed this way.
    ///
    /// 414 for the request line, 431 for the header section, 413 for the body, 505 for an
    /// HTTP major version other than 1 (RFC 9110 §15.6.6), 501 for a transfer coding we do not
    /// implement (RFC 9112 §6.1); 400 otherwise. Errors only a response can cause map to 502:
    /// that is what a gateway answers its own client.
    public var status: HTTPStatus {
        switch code {
        case .requestLineTooLong: return .uriTooLong
        case .headersTooLarge, .tooManyHeaders: return .requestHeaderFieldsTooLarge
        case .bodyTooLarge: return .payloadTooLarge
        case .versionNotSupported: return .httpVersionNotSupported
        case .unsupportedTransferEncoding: return .notImplemented
        case .invalidStatusLine, .statusLineTooLong, .noResponse: return .badGateway
        default: return .badRequest
        }
    }

    public var description: String { "HTTPParseError(\(code))" }
}

extension HTTPParseError {
    /// An error with `code`; shorthand for the parsers.
    static func code(_ code: Code) -> HTTPParseError { HTTPParseError(code) }
}
