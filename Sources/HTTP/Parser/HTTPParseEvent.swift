/// What a parser reports for the bytes it was given.
///
/// The caller owns the buffer: it passes the unread bytes, advances its read index by
/// `consumed`, and calls again until `.needMore`. Bytes that were examined but not consumed
/// must be passed again (with more after them): the parser remembers how far it looked.
public enum HTTPParseEvent<Head> {
    /// Every byte passed is examined; call again when more have arrived.
    case needMore
    /// A complete head; `consumed` bytes (the head) are used up.
    case head(Head, consumed: Int)
    /// Body bytes: `bytes[start ..< start + count]` of the buffer just passed, valid until the
    /// caller reuses that buffer; `consumed` (≥ `start + count`) bytes are used up.
    case body(start: Int, count: Int, consumed: Int)
    /// The message is complete; `trailers` are a chunked body's trailer fields, if any.
    /// The parser is ready for the next message.
    case end(consumed: Int, trailers: HTTPHeaders?)
    /// The message is malformed; answer `error.status` and close the connection. The parser
    /// repeats this error until `reset()`.
    case invalid(HTTPParseError)

    /// How many bytes this event uses up.
    public var consumed: Int {
        switch self {
        case .needMore, .invalid: return 0
        case .head(_, let consumed), .body(_, _, let consumed), .end(let consumed, _): return consumed
        }
    }
}

extension HTTPParseEvent: Sendable where Head: Sendable {}
extension HTTPParseEvent: Equatable where Head: Equatable {}

/// How the body of the message just parsed is delimited (RFC 9112 §6.3).
public enum HTTPBodyKind: Sendable, Hashable {
    /// No body at all.
    case none
    /// Exactly this many bytes (`Content-Length`).
    case length(Int)
    /// `Transfer-Encoding: chunked`.
    case chunked
    /// A response body that ends when the server closes the connection.
    case untilClose
}
