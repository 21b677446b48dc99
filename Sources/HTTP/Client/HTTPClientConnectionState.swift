/// The request/response cycle of one client connection, without sockets.
///
/// `HTTPClientConnection` asks it before every step, so that the keep-alive rules live in
/// one place and are tested by walking event sequences:
/// - a connection is reused only after a complete request and a complete response, when
///   neither side said `Connection: close`, the response is HTTP/1.1 (or 1.0 with
///   `keep-alive`) and its body was not delimited by the close;
/// - a request body must match the framing its head announced.
struct HTTPClientConnectionState: Sendable, Equatable {
    /// How the request body still to be sent is delimited.
    enum RequestBody: Sendable, Equatable {
        case length(remaining: Int)
        case chunked
    }

    enum State: Sendable, Equatable {
        /// Ready for a request head.
        case idle
        /// The head is out (or buffered); body bytes may follow.
        case sendingBody(RequestBody)
        /// The request is complete; the response head is next.
        case awaitingHead
        /// The head arrived; its body is being read.
        case readingBody
        /// The response ended (or something failed) on a connection that must not be reused.
        case mustClose
    }

    /// Why a step was refused: the caller used the connection out of order.
    struct Misuse: Error, Sendable, Equatable {
        let reason: String
    }

    private(set) var state: State = .idle
    private var requestKeepAlive = true
    private var responseKeepAlive = true

    /// True when the last exchange completed and the connection may carry another request.
    var isReusable: Bool { state == .idle }

    /// A request head was written. Its framing follows RFC 9112 §6: chunked when
    /// `Transfer-Encoding` ends in chunked, else `Content-Length`, else no body.
    mutating func requestHeadSent(_ head: HTTPRequestHead) throws(Misuse) {
        guard state == .idle else { throw Misuse(reason: "request head while \(state)") }
        requestKeepAlive = head.keepAlive
        if let encoding = head.headers[.transferEncoding] {
            guard encoding.lowercased().hasSuffix("chunked") else {
                throw Misuse(reason: "request Transfer-Encoding must end in chunked")
            }
            state = .sendingBody(.chunked)
            return
        }
        if let length = head.headers[.contentLength] {
            guard let count = Int(length), count >= 0 else { throw Misuse(reason: "invalid Content-Length") }
            state = count == 0 ? .awaitingHead : .sendingBody(.length(remaining: count))
            return
        }
        state = .awaitingHead
    }

    /// A request that the caller encoded itself (head and whole body) was written.
    mutating func encodedRequestSent(keepAlive: Bool) throws(Misuse) {
        guard state == .idle else { throw Misuse(reason: "request while \(state)") }
        requestKeepAlive = keepAlive
        state = .awaitingHead
    }

    /// `count` body bytes are about to be sent.
    /// - Returns: whether the body is chunked (the caller frames each chunk).
    mutating func bodyBytesSent(_ count: Int) throws(Misuse) -> Bool {
        switch state {
        case .sendingBody(.chunked):
            return true
        case .sendingBody(.length(let remaining)):
            guard count <= remaining else { throw Misuse(reason: "body longer than Content-Length") }
            state = .sendingBody(.length(remaining: remaining - count))
            return false
        default:
            throw Misuse(reason: "request body while \(state)")
        }
    }

    /// The caller has no more body bytes.
    /// - Returns: whether the chunked terminator must be written.
    mutating func requestFinished() throws(Misuse) -> Bool {
        switch state {
        case .sendingBody(.chunked):
            state = .awaitingHead
            return true
        case .sendingBody(.length(0)):
            state = .awaitingHead
            return false
        case .sendingBody(.length):
            throw Misuse(reason: "request body shorter than Content-Length")
        case .awaitingHead:
            return false  // a request without body is finished by its head
        default:
            throw Misuse(reason: "finishing a request while \(state)")
        }
    }

    /// Whether a response head may be read now.
    var mayReadHead: Bool { state == .awaitingHead }

    /// A final (non-1xx, or 101) response head arrived.
    mutating func responseHeadReceived(_ head: HTTPResponseHead, bodyKind: HTTPBodyKind) {
        precondition(state == .awaitingHead, "Invalid state: \(state)")
        responseKeepAlive =
            head.keepAlive && bodyKind != .untilClose && head.status != .switchingProtocols
        state = .readingBody
    }

    /// The response body ended. `leftoverBytes`: the server sent bytes after the response,
    /// which no request asked for, so the connection is out of step and must close.
    mutating func responseEnded(leftoverBytes: Bool) {
        precondition(state == .readingBody, "Invalid state: \(state)")
        state = requestKeepAlive && responseKeepAlive && !leftoverBytes ? .idle : .mustClose
    }

    /// Anything failed: never reuse the connection.
    mutating func failed() {
        state = .mustClose
    }
}
