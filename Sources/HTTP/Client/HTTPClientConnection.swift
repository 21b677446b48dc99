import Reactor

/// One keep-alive connection to an origin, leased from a loop's ``HTTPConnectionPool``.
///
/// The low-level API the gateway streams through, one exchange at a time:
/// ```
/// try conn.sendHead(head)                      // framing from Content-Length / Transfer-Encoding
/// try await conn.sendBody(chunk)               // as often as needed (chunk-framed if chunked)
/// try await conn.finishRequest()
/// let head = try await conn.readResponseHead() // raw head: every field as received
/// while try await conn.readBodyChunk(appendingTo: &buffer) { ... }
/// let trailers = conn.responseTrailers        // a chunked body's trailer section, if any
/// conn.release()                               // back to the pool if reusable, else closed
/// ```
/// Nothing is written until there are body bytes, the request is finished or the head is
/// read, so a request without a body (or with a small one) costs one write system call.
/// Body bytes are read into a fixed buffer of `readBufferSize` bytes and handed out as
/// they arrive: a large body passes with bounded memory, at the pace of its consumer.
///
/// Loop-bound (``LoopBound``): call everything from a task running on ``loop``.
/// `@unchecked Sendable` so that it can be handed to a child task on the same loop.
public final class HTTPClientConnection: LoopBound, @unchecked Sendable {
    public let origin: HTTPOrigin
    /// The byte stream underneath (a `TCPSocket`, or what `makeTransport` made of one).
    public let transport: any ByteStream
    /// `transport`'s loop (kept: it never changes, and each access through the existential
    /// costs a witness call and a retain).
    public let loop: EventLoop
    /// `transport` when it is a plain TCP socket, read directly (see
    /// `TCPSocket.read(into:from:socket:)`).
    private let socket: TCPSocket?

    /// The pool to return to. Strong, not weak: a weak reference gives the pool a side
    /// table, and then every retain and release of the pool (several per request) takes
    /// the runtime's slow path. The cycle through the pool's idle list is broken when the
    /// connection is discarded, and by ``HTTPClient/shutdown()`` or the client's deinit.
    var pool: HTTPConnectionPool?
    /// The pool's per-origin entry; cleared on close (it holds idle connections strongly).
    var originEntry: HTTPConnectionPool.OriginEntry?
    /// When the connection went idle (monotonic ns), for the idle timeout.
    var idleSince: UInt64 = 0
    var isLeased = false

    private let responseTimeout: UInt64
    private let ioTimeout: UInt64
    private var state = HTTPClientConnectionState()
    private var parser: HTTPResponseParser
    /// Bytes received and not yet consumed; owned memory, allocated once per connection.
    private let buffer: ReadBuffer
    /// Request bytes not yet written; reused (keeping its capacity) for every request.
    private var outgoing: [UInt8] = []
    /// Whether any byte of the current request went to the transport.
    private var requestBytesWritten = false
    /// Whether any byte of the current response arrived.
    private var responseBytesSeen = false

    /// The trailer fields that ended the current response's chunked body (RFC 9112 §7.1.2),
    /// once the body has been read to its end; nil when it had none or is framed otherwise.
    public private(set) var responseTrailers: HTTPHeaders?

    /// Requests started on this connection, the current one included.
    public private(set) var requestCount = 0
    /// Whether the current request is not the connection's first: a failure before any
    /// response byte may then be a keep-alive connection the server had already closed.
    public var isReused: Bool { requestCount > 1 }
    public private(set) var isClosed = false

    init(origin: HTTPOrigin, transport: any ByteStream, configuration: HTTPClient.Configuration) {
        self.origin = origin
        self.transport = transport
        loop = transport.loop
        socket = transport as? TCPSocket
        responseTimeout = configuration.responseTimeout.nanoseconds
        ioTimeout = configuration.ioTimeout.nanoseconds
        parser = HTTPResponseParser(limits: configuration.responseLimits)
        // The head must fit: the parser decides a head within these many bytes.
        let headRoom = configuration.responseLimits.maxRequestLineLength + configuration.responseLimits.maxHeaderBytes + 4
        buffer = ReadBuffer(capacity: max(configuration.readBufferSize, headRoom))
    }

    deinit {
        if !isClosed {
            // Dropped without release()/close() (a cancelled caller): sockets close on their loop.
            let transport = self.transport
            transport.loop.executeNowOrSoon { transport.close() }
        }
    }

    /// The framing of the response whose head was read last (`.untilClose`, `.chunked`, ...).
    public var responseBodyKind: HTTPBodyKind { parser.bodyKind }

    // MARK: Sending

    /// Starts a request: serializes `head` into the connection's output buffer, written
    /// with the first body bytes, by ``finishRequest()`` or by ``readResponseHead()``.
    ///
    /// The body's framing follows the head: `Transfer-Encoding: chunked` (each
    /// ``sendBody(_:)`` becomes a chunk), `Content-Length: n` (exactly n bytes), or none.
    /// `Host` and framing fields are the caller's job (``HTTPClientRequest/wireHead`` does it).
    public func sendHead(_ head: HTTPRequestHead) throws(HTTPClientError) {
        assertOnLoop()
        try beginRequest { state throws(HTTPClientConnectionState.Misuse) in try state.requestHeadSent(head) }
        parser.expectResponse(toRequestMethod: head.method)
        // From the loop's pool: the socket gives it back once sent (see LoopBufferPool).
        if outgoing.capacity == 0 { outgoing = loop.bufferPool.takeArray() }
        head.write(into: &outgoing)
    }

    /// Sends a request that the caller encoded whole (head, and a body framed by
    /// `Content-Length`): the load generator's path, which encodes once and reuses the bytes.
    /// - Parameters:
    ///   - method: the request's method (a HEAD response has no body).
    ///   - keepAlive: false when the request says `Connection: close`.
    public func sendEncodedRequest(
        _ bytes: ArraySlice<UInt8>, method: HTTPMethod, keepAlive: Bool = true
    ) async throws(HTTPClientError) {
        assertOnLoop()
        try beginRequest { state throws(HTTPClientConnectionState.Misuse) in
            try state.encodedRequestSent(keepAlive: keepAlive)
        }
        parser.expectResponse(toRequestMethod: method)
        requestBytesWritten = true
        try await write(bytes, deadline: loop.now &+ responseTimeout)
    }

    /// Sends a whole request, head and body, in one write.
    public func sendRequest(_ head: HTTPRequestHead, body: [UInt8]?) async throws(HTTPClientError) {
        try sendHead(head)
        if let body, !body.isEmpty { try await sendBody(body[...]) }
        try await finishRequest()
    }

    /// Sends body bytes (one chunk when the body is chunked). Returns once they are in the
    /// kernel, waiting while the server does not take them: a slow upstream slows the caller
    /// down (backpressure), and nothing is held back (a streamed body is not delayed).
    public func sendBody(_ bytes: ArraySlice<UInt8>) async throws(HTTPClientError) {
        assertOnLoop()
        guard !bytes.isEmpty else { return }
        let chunked: Bool
        do { chunked = try state.bodyBytesSent(bytes.count) } catch { throw misuse(error) }
        if chunked { ChunkedEncoding.writeChunkHeader(size: bytes.count, into: &outgoing) }
        // Small pieces join the buffered head or chunk header (one write); large ones are
        // written from the caller's storage rather than copied. A chunk's closing CRLF waits
        // for the next write (the next chunk or the terminator): it carries no data.
        if bytes.count <= 16 * 1024 {
            outgoing.append(contentsOf: bytes)
            if chunked { outgoing.append(contentsOf: ChunkedEncoding.chunkDataEnd) }
            try await flush()
        } else {
            try await flush()
            try await write(bytes, deadline: loop.now &+ ioTimeout)
            if chunked { outgoing.append(contentsOf: ChunkedEncoding.chunkDataEnd) }
        }
    }

    /// Sends body bytes; see ``sendBody(_:)-(ArraySlice<UInt8>)``.
    public func sendBody(_ bytes: [UInt8]) async throws(HTTPClientError) {
        try await sendBody(bytes[...])
    }

    /// Ends the request body (the chunked terminator when chunked) and writes what is buffered.
    /// - Parameter trailers: trailer fields for a chunked body, after its last chunk (RFC 9112
    ///   §7.1.2); a body framed otherwise has no place for them, and they are left out.
    /// - Throws: `.invalidRequest` when fewer bytes than `Content-Length` were sent.
    public func finishRequest(trailers: HTTPHeaders? = nil) async throws(HTTPClientError) {
        assertOnLoop()
        let terminate: Bool
        do { terminate = try state.requestFinished() } catch { throw misuse(error) }
        if terminate {
            if let trailers, !trailers.isEmpty {
                ChunkedEncoding.writeTerminator(trailers: trailers, into: &outgoing)
            } else {
                outgoing.append(contentsOf: ChunkedEncoding.terminator)
            }
        }
        // The request goes out at the end of the loop's round (see
        // ByteStream.sendAtEndOfRound), or now if the transport cannot wait.
        if !outgoing.isEmpty, transport.sendAtEndOfRound(&outgoing) {
            requestBytesWritten = true
            return
        }
        try await flush()
    }

    private func beginRequest(
        _ transition: (inout HTTPClientConnectionState) throws(HTTPClientConnectionState.Misuse) -> Void
    ) throws(HTTPClientError) {
        loop.preconditionInLoop()
        guard !isClosed else {
            throw HTTPClientError(.connectionClosed, requestMayHaveBeenSent: false)
        }
        do { try transition(&state) } catch { throw misuse(error) }
        requestCount += 1
        requestBytesWritten = false
        responseBytesSeen = false
        responseTrailers = nil
        outgoing.removeAll(keepingCapacity: true)
    }

    private func flush() async throws(HTTPClientError) {
        guard !outgoing.isEmpty else { return }
        try await write(outgoing[...], deadline: loop.now &+ ioTimeout)
        // The slice passed to write() is gone: the storage is unique again, so this keeps it.
        outgoing.removeAll(keepingCapacity: true)
    }

    private func write(_ bytes: ArraySlice<UInt8>, deadline: UInt64) async throws(HTTPClientError) {
        requestBytesWritten = true
        transport.writeDeadline = deadline
        do {
            try await transport.write(bytes)
        } catch {
            throw fail(ioError: error, timeoutCode: .writeTimeout)
        }
    }

    // MARK: Receiving

    /// Writes what is still buffered, then waits for the final response head (1xx interim
    /// heads are skipped; a 101 is returned, and its body is the new protocol's bytes).
    ///
    /// - Parameter deadline: also give up then (monotonic ns, ``EventLoop/now``'s clock) if
    ///   that is sooner than `responseTimeout`. One function with a default, not a wrapper:
    ///   each async call level costs a frame allocation per request.
    /// - Throws: `.responseTimeout` after `responseTimeout`; `.connectionClosed` (with
    ///   ``HTTPClientError/isStaleConnection`` when the connection was reused and nothing
    ///   came back); `.invalidResponse`.
    public func readResponseHead(deadline: UInt64? = nil) async throws(HTTPClientError) -> HTTPResponseHead {
        assertOnLoop()
        if case .sendingBody = state.state { try await finishRequest() }
        guard state.mayReadHead else {
            throw misuse(HTTPClientConnectionState.Misuse(reason: "reading a head while \(state.state)"))
        }
        try await flush()
        var headDeadline = loop.now &+ responseTimeout
        if let deadline, deadline < headDeadline { headDeadline = deadline }
        transport.readDeadline = headDeadline
        while true {
            switch buffer.withUnread({ parser.next($0) }) {
            case .head(let head, let consumed):
                buffer.consume(consumed)
                if head.status.isInformational && head.status != .switchingProtocols { continue }
                state.responseHeadReceived(head, bodyKind: parser.bodyKind)
                return head
            case .needMore:
                if try await !fill(timeoutCode: .responseTimeout) {
                    let event = parser.connectionClosed()
                    guard case .invalid(let error) = event else { preconditionFailure("EOF while reading a head: \(event)") }
                    throw fail(
                        .connectionClosed, parseError: error,
                        stale: isReused && !responseBytesSeen && error.code == .noResponse)
                }
            case .invalid(let error):
                throw fail(.invalidResponse, parseError: error)
            case .body, .end:
                preconditionFailure("response parser reported body before a head")
            }
        }
    }

    /// The next body bytes as a view into the connection's read buffer, valid only until
    /// the next call on this connection; nil once the body is complete.
    ///
    /// The zero-copy primitive under ``readBodyChunk(appendingTo:)`` and ``readBodyChunk()``.
    /// - Parameter deadline: give up then (monotonic ns) if sooner than `ioTimeout`.
    @inline(__always)  // into collectBody's loop (twice per small body): no async frame per call
    public func nextBodyBytes(deadline: UInt64? = nil) async throws(HTTPClientError) -> UnsafeRawBufferPointer? {
        assertOnLoop()
        switch state.state {
        case .readingBody: break
        case .idle, .mustClose: return nil  // the body already ended (or failed and threw)
        default: throw misuse(HTTPClientConnectionState.Misuse(reason: "reading a body while \(state.state)"))
        }
        while true {
            switch buffer.withUnread({ parser.next($0) }) {
            case .body(let start, let count, let consumed):
                // In place: valid until the next read into the buffer, as documented above.
                let bytes = buffer.unread(offset: start, count: count)
                buffer.consume(consumed)
                if count > 0 { return bytes }
            case .end(let consumed, let trailers):
                buffer.consume(consumed)
                responseTrailers = trailers
                responseEnded()
                return nil
            case .needMore:
                var readDeadline = loop.now &+ ioTimeout
                if let deadline, deadline < readDeadline { readDeadline = deadline }
                transport.readDeadline = readDeadline
                if try await !fill(timeoutCode: .readTimeout) {
                    switch parser.connectionClosed() {
                    case .end:
                        responseEnded()
                        return nil
                    case .invalid(let error):
                        throw fail(.connectionClosed, parseError: error)
                    default:
                        preconditionFailure("EOF in a body")
                    }
                }
            case .invalid(let error):
                throw fail(error.code == .bodyTooLarge ? .bodyTooLarge : .invalidResponse, parseError: error)
            case .head:
                preconditionFailure("response parser reported a head inside a body")
            }
        }
    }

    /// Appends the next body bytes (at most `readBufferSize`) to `chunk`.
    /// - Returns: false, appending nothing, once the body is complete.
    public func readBodyChunk(appendingTo chunk: inout [UInt8]) async throws(HTTPClientError) -> Bool {
        guard let bytes = try await nextBodyBytes() else { return false }
        chunk.append(contentsOf: bytes)
        return true
    }

    /// The next body bytes in a new array, or nil once the body is complete.
    public func readBodyChunk() async throws(HTTPClientError) -> [UInt8]? {
        guard let bytes = try await nextBodyBytes() else { return nil }
        return Array(bytes)
    }

    /// Reads the rest of the body into one array.
    /// - Parameter deadline: give up then (monotonic ns) if sooner than `ioTimeout`.
    /// - Throws: `.bodyTooLarge` (and closes) when it exceeds `maxSize`.
    public func collectBody(maxSize: Int, deadline: UInt64? = nil) async throws(HTTPClientError) -> [UInt8] {
        var body: [UInt8] = []
        if case .length(let length) = parser.bodyKind {
            guard length <= maxSize else { throw fail(.bodyTooLarge) }
            body.reserveCapacity(length)
        }
        while let bytes = try await nextBodyBytes(deadline: deadline) {
            guard body.count + bytes.count <= maxSize else { throw fail(.bodyTooLarge) }
            body.append(contentsOf: bytes)
        }
        return body
    }

    /// Reads more bytes into the buffer. - Returns: false at end of stream.
    @inline(__always)  // one async frame fewer per read
    private func fill(timeoutCode: HTTPClientError.Code) async throws(HTTPClientError) -> Bool {
        let count: Int
        do {
            count = try await buffer.readMore(from: transport, socket: socket)
        } catch is ReadBuffer.BufferFull {
            // Cannot happen within the parser's limits (the buffer holds a maximal head).
            throw fail(.invalidResponse, parseError: HTTPParseError(.headersTooLarge))
        } catch {
            throw fail(ioError: error, timeoutCode: timeoutCode)
        }
        if count == 0 { return false }
        responseBytesSeen = true
        return true
    }

    private func responseEnded() {
        state.responseEnded(leftoverBytes: buffer.unreadCount > 0)
        buffer.discardUnread()
    }

    // MARK: Ending

    /// Whether ``release()`` would return the connection to its pool.
    public var isReusable: Bool { !isClosed && state.isReusable }

    /// Returns the connection to its pool when the exchange completed with keep-alive,
    /// and closes it otherwise (a body not read to its end, `Connection: close`, HTTP/1.0,
    /// an error). Call exactly once per lease; the connection must not be used afterwards.
    public func release() {
        assertOnLoop()
        guard isLeased else { return }
        isLeased = false
        let reusable = isReusable
        if let pool {
            pool.connectionReleased(self, reusable: reusable)
        } else {
            close()
        }
    }

    /// Closes the connection at once (it is not returned to the pool until ``release()``).
    public func close() {
        assertOnLoop()
        guard !isClosed else { return }
        isClosed = true
        state.failed()
        transport.close()
    }

    // MARK: Errors

    private func misuse(_ error: HTTPClientConnectionState.Misuse) -> HTTPClientError {
        close()
        return HTTPClientError(
            .invalidRequest, requestMayHaveBeenSent: requestBytesWritten, underlying: error)
    }

    /// Closes the connection (it is out of step) and describes the failure.
    private func fail(
        _ code: HTTPClientError.Code, parseError: HTTPParseError? = nil, stale: Bool = false,
        underlying: (any Error)? = nil
    ) -> HTTPClientError {
        close()
        return HTTPClientError(
            code, requestMayHaveBeenSent: requestBytesWritten, isStaleConnection: stale,
            responseBytesReceived: responseBytesSeen, parseError: parseError, underlying: underlying)
    }

    private func fail(ioError: any Error, timeoutCode: HTTPClientError.Code) -> HTTPClientError {
        guard let io = ioError as? IOError else { return fail(.connectionClosed, underlying: ioError) }
        if io.code == .timedOut { return fail(timeoutCode, underlying: io) }
        if io.code == .cancelled { return fail(.cancelled, underlying: io) }
        // A reset or broken pipe on a reused connection before any response byte: the
        // server closed it while it sat idle in our pool.
        let stale = io.isConnectionLost && isReused && !responseBytesSeen
        return fail(.connectionClosed, stale: stale, underlying: io)
    }
}
