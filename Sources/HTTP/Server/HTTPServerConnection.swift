import Logging
import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// Serves the requests of one connection, one after another, in its own task on the
/// connection's loop: read a head, call the responder, write the response, repeat.
///
/// Pipelined requests are answered in order, and their responses go out in one write when
/// the next request is already buffered. The rules of when to keep the connection, time
/// it out or close it for a drain live in ``HTTPConnectionStateMachine``; this class does
/// the I/O. Loop-bound.
final class HTTPServerConnection: @unchecked Sendable {
    let stream: any ByteStream
    /// `stream` when it is a plain TCP socket, read directly (see `ReadBuffer.readMore`).
    private let socket: TCPSocket?
    /// `stream`'s loop, kept: each access through the existential is a witness call and a retain.
    private let loop: EventLoop
    /// The `Server` field line (`Server: name` CRLF, sanitized), made once rather than checked
    /// per response; empty when the configuration names no server.
    private let serverField: [UInt8]
    /// The peer's address, its numeric host and the loop, made once for all the connection's requests.
    private let origin: HTTPRequestOrigin
    private let configuration: HTTPServerConfiguration
    /// The configuration's timeouts in nanoseconds, converted once: a `Duration` keeps
    /// attoseconds, and converting one took a 128-bit division each time a deadline was set.
    private let headerReadTimeout: UInt64
    private let idleTimeout: UInt64
    private let bodyReadTimeout: UInt64
    private let writeTimeout: UInt64
    private let lingeringTimeout: UInt64
    private let responder: any HTTPResponder
    private let dateCache: HTTPDateCache
    private let buffer: ReadBuffer
    private var parser: HTTPRequestParser
    private var machine = HTTPConnectionStateMachine()
    private var output: [UInt8] = []

    // Per-request state.
    private var bodyFinished = true
    private var bodyFailed = false
    private var expectsContinue = false
    private var continueSent = false
    /// Set when reading the request body failed on the connection itself (reset, end of
    /// stream): an `IOError` the handler passes on is then the client's, not the handler's.
    private var connectionFailed = false
    /// How the connection ends once it stops serving.
    private var ending = Ending.graceful
    /// Whether a response has been written on this connection (see ``drain()``).
    private var hasAnswered = false

    /// How a connection ends.
    private enum Ending {
        /// Pending bytes go out, then TLS's close_notify, then the close.
        case graceful
        /// As `graceful`, then half-close and read what the client still sends until it
        /// closes or `lingeringTimeout` passes (nginx's lingering close): closing with
        /// unread input would make the kernel send a reset, which can destroy the answer
        /// (an error response sent before the request was read whole) before the client
        /// reads it.
        case lingering
        /// At once: the connection failed, or the server's drain deadline passed.
        case abort
    }

    /// Response bodies written to a buffer above this size are flushed at once rather
    /// than batched with the next pipelined response.
    private static let flushThreshold = 64 * 1024

    init(stream: any ByteStream, configuration: HTTPServerConfiguration, responder: any HTTPResponder, dateCache: HTTPDateCache) {
        self.stream = stream
        socket = stream as? TCPSocket
        loop = stream.loop
        origin = HTTPRequestOrigin(loop: loop, remoteAddress: stream.remoteAddress)
        var serverField: [UInt8] = []
        if let serverName = configuration.serverName {
            HTTPHeadWriter.append(to: &serverField, atMost: HTTPHeadWriter.fieldLength("Server", valueCount: serverName.utf8.count)) {
                $0.field("Server", sanitizing: serverName)
            }
        }
        if !configuration.fixedFields.isEmpty {
            let fixed = configuration.fixedFields
            HTTPHeadWriter.append(to: &serverField, atMost: fixed.lineByteCount) { $0.fields(fixed) }
        }
        self.serverField = serverField
        self.configuration = configuration
        headerReadTimeout = configuration.headerReadTimeout.nanoseconds
        idleTimeout = configuration.idleTimeout.nanoseconds
        bodyReadTimeout = configuration.bodyReadTimeout.nanoseconds
        writeTimeout = configuration.writeTimeout.nanoseconds
        lingeringTimeout = configuration.lingeringTimeout.nanoseconds
        self.responder = responder
        self.dateCache = dateCache
        self.parser = HTTPRequestParser(limits: configuration.parserLimits)
        let limits = configuration.parserLimits
        self.buffer = ReadBuffer(pool: loop.bufferPool, maxCapacity: limits.maxRequestLineLength + limits.maxHeaderBytes + 4096)
    }

    /// True while the connection waits for a request and has none of it yet.
    var isIdle: Bool { machine.state == .idle }

    /// Begins a graceful close: at once when idle, else after the current response.
    ///
    /// An idle connection's wait for a request is ended by ending the stream's reading (not
    /// by closing it): the connection then ends as it does when the client closes, so a
    /// response still on its way out is sent whole, and a request that had already arrived
    /// is answered (with `Connection: close`). If none had, a 408 with `Connection: close`
    /// says so before the lingering close: a request the client sent as the connection
    /// closed was not read, and may be sent again elsewhere. A connection that has not answered anything
    /// yet was opened for a request that may still be on its way: it waits for it (for the
    /// header timeout at most) and answers it, as the last.
    func drain() {
        if machine.drainRequested() && hasAnswered { stream.endReading() }
    }

    /// Serves requests until the client or the server closes the connection, then ends it
    /// (see ``Ending``).
    func run() async {
        await serve()
        switch ending {
        case .abort:
            stream.close()
        case .graceful, .lingering:
            stream.writeDeadline = loop.now &+ writeTimeout
            do {
                try await flush()
                try await stream.finishSends()
            } catch {
                stream.close()
                return
            }
            if ending == .lingering {
                await stream.closeLingering(until: loop.now &+ lingeringTimeout)
            } else {
                await stream.closeGracefully()
            }
        }
    }

    private func serve() async {
        while machine.state != .closed {
            guard let head = await readHead() else { break }
            let keepAlive = machine.headReceived(requestKeepAlive: head.keepAlive)
            let hasBody = parser.bodyKind != .none
            if !hasBody { stepPastAbsentBody() }
            bodyFinished = !hasBody
            bodyFailed = false
            connectionFailed = false
            expectsContinue = head.expectsContinue && head.version == .http1_1
            continueSent = false
            // What answering needs of the head; the head itself goes to the handler, so that
            // it owns the only copy of the fields (a proxy edits them in place).
            let method = head.method
            let version = head.version
            let body = hasBody ? HTTPRequestBody(source: self, isEmpty: false) : HTTPRequestBody.absent
            defer { body.detach() }
            let request = HTTPServerRequest(
                head: consume head,
                body: body,
                origin: origin)
            let response: HTTPServerResponse
            do {
                response = try await responder.respond(to: consume request)
            } catch let error as HTTPServerError {
                response = configuration.errorRenderer.response(for: error)
            } catch let error as any HTTPResponseError {
                response = error.response
            } catch is IOError where connectionFailed {
                // The connection itself failed while the handler read the body.
                machine.closed()
                ending = .abort
                return
            } catch {
                // The handler's own failure (its own I/O included): the client gets an answer.
                configuration.logger.error(
                    "handler failed", error: error, metadata: ["method": .string(method.rawValue), "protocol": "HTTP/1.1"])
                response = configuration.errorRenderer.response(for: .handlerFailed)
            }
            let bodyFullyRead = bodyFinished ? true : await finishRequestBody()
            do {
                // The head (and a whole body) goes into the output without suspending; only a
                // streamed body or a full output buffer waits.
                if let streamed = append(response, method: method, version: version, keepAlive: keepAlive && bodyFullyRead) {
                    try await writeBody(streamed)
                } else if output.count >= Self.flushThreshold {
                    try await flush()
                }
            } catch let error as HTTPBodyLengthError {
                // The head promised another length: the client cannot tell where this body
                // ends, so the connection cannot carry another response.
                configuration.logger.error(
                    "response body failed; connection closed", error: error,
                    metadata: ["method": .string(method.rawValue), "protocol": "HTTP/1.1"])
                machine.closed()
                ending = .abort
                return
            } catch {
                machine.closed()
                ending = .abort
                return
            }
            hasAnswered = true
            let more = buffer.unreadCount > 0
            if machine.responseSent(bodyFullyRead: bodyFullyRead, moreBytesBuffered: more) == .close {
                // Unread input (a body not read to its end, requests after the last one
                // answered) would turn the close into a reset.
                ending = bodyFullyRead && !more ? .graceful : .lingering
                return
            }
        }
    }

    // MARK: Reading

    /// Reads and parses until a whole head is there; nil when the connection should close
    /// (EOF, timeout, malformed request — answered here).
    @inline(__always)  // called once per request, from run: one async frame fewer
    private func readHead() async -> HTTPRequestHead? {
        var headDeadline: UInt64?
        while true {
            let event = buffer.withUnread { parser.next($0) }
            // Consumed, so that the head is moved out of the event rather than copied.
            switch consume event {
            case .head(let head, let consumed):
                buffer.consume(consumed)
                stream.readDeadline = nil
                return head
            case .invalid(let error):
                sendErrorAndClose(HTTPServerError(.malformedRequest(error)))
                return nil
            case .body, .end:
                preconditionFailure("body event while waiting for a head")
            case .needMore:
                do {
                    // Answers go out at the end of the loop's round (see
                    // ByteStream.sendAtEndOfRound), or now if the transport cannot wait.
                    if !output.isEmpty, !stream.sendAtEndOfRound(&output) { try await flush() }
                } catch {
                    machine.closed()
                    ending = .abort
                    return nil
                }
                if buffer.unreadCount > 0 { machine.bytesReceived() }
                if machine.state == .readingHead {
                    if headDeadline == nil {
                        headDeadline = loop.now &+ headerReadTimeout
                    }
                    stream.readDeadline = headDeadline
                } else {
                    // Draining, a connection waits only for the request it was opened for.
                    stream.readDeadline = loop.now &+ (machine.isDraining ? headerReadTimeout : idleTimeout)
                }
                do {
                    if buffer.unreadCount == 0, let socket, socket.isKnownDrained {
                        // Nothing to parse and nothing to read yet: wait holding no buffer
                        // (an idle keep-alive connection costs its socket and little else).
                        loop.bufferPool.recycle(&output)
                        buffer.release()
                        try await socket.waitUntilReadable()
                    }
                    let count = try await buffer.readMore(from: stream, socket: socket)
                    if count == 0 {
                        // The client has sent all it will (or a drain ended the reading);
                        // what it asked for still goes out, as the connection ends.
                        if machine.inputEnded() == .sendRequestTimeoutAndClose {
                            sendErrorAndClose(HTTPServerError(.shuttingDown))
                        }
                        return nil
                    }
                    machine.bytesReceived()
                } catch let error as IOError where error.code == .timedOut {
                    let idle = machine.state == .idle
                    if machine.timedOut() == .sendRequestTimeoutAndClose {
                        sendErrorAndClose(
                            HTTPServerError(idle ? .shuttingDown : .headerTimeout))
                    }
                    return nil
                } catch is ReadBuffer.BufferFull {
                    sendErrorAndClose(HTTPServerError(.headerTooLarge))
                    return nil
                } catch {
                    machine.closed()
                    ending = .abort
                    return nil
                }
            }
        }
    }

    /// A request without a body ends with its head: steps the parser past that end at once,
    /// so that a GET costs no body handling at all.
    private func stepPastAbsentBody() {
        let event = buffer.withUnread { parser.next($0) }
        guard case .end(let consumed, _) = event else { preconditionFailure("a request without a body did not end") }
        buffer.consume(consumed)
    }

    /// The next piece of the current request's body, for ``HTTPRequestBody``.
    func nextBodyChunk() async throws -> ArraySlice<UInt8>? {
        if bodyFinished { return nil }
        if bodyFailed { throw HTTPServerError(.malformedBody) }
        if expectsContinue && !continueSent {
            // The client waits for this before sending the body (RFC 9110 §10.1.1).
            continueSent = true
            do {
                try await flush()
                try await stream.write(Self.continueResponse)
            } catch {
                connectionFailed = true
                throw error
            }
        }
        while true {
            let event = buffer.withUnread { parser.next($0) }
            switch event {
            case .body(let start, let count, let consumed):
                let chunk = buffer.copy(offset: start, count: count)
                buffer.consume(consumed)
                return chunk
            case .end(let consumed, _):
                buffer.consume(consumed)
                bodyFinished = true
                stream.readDeadline = nil
                return nil
            case .invalid(let error):
                bodyFailed = true
                throw HTTPServerError(.malformedRequest(error))
            case .head:
                preconditionFailure("head event inside a body")
            case .needMore:
                stream.readDeadline = loop.now &+ bodyReadTimeout
                let count: Int
                do {
                    count = try await buffer.readMore(from: stream, socket: socket)
                } catch let error as IOError where error.code == .timedOut {
                    bodyFailed = true
                    throw HTTPServerError(.bodyTimeout)
                } catch {
                    bodyFailed = true
                    connectionFailed = true
                    throw error
                }
                if count == 0 {
                    bodyFailed = true
                    connectionFailed = true
                    throw IOError(.eof, operation: "read request body")
                }
            }
        }
    }

    /// Skips what the handler left of the request body, so the next request can be read.
    /// - Returns: false when that is not possible (the body was malformed, the client is
    ///   still waiting for 100 Continue, or too much is left), and the connection must close.
    private func finishRequestBody() async -> Bool {
        if bodyFinished { return true }
        if bodyFailed { return false }
        if expectsContinue && !continueSent { return false }
        var skipped = 0
        do {
            while let chunk = try await nextBodyChunk() {
                skipped += chunk.count
                if skipped > 1 << 20 { return false }
            }
            return true
        } catch {
            return false
        }
    }

    // MARK: Writing

    private static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// A body written after its head: the handler's writer, and how it is framed.
    private struct StreamedBody {
        let write: @Sendable @concurrent (HTTPBodyWriter) async throws -> Void
        let chunked: Bool
        /// The `Content-Length` the head stated, which the writer must meet exactly.
        let length: Int?
        /// False for HEAD and for statuses without a body: the writer is not called.
        let sendsBody: Bool
    }

    /// Writes the response's head straight into the output buffer: the handler's fields
    /// except those the server owns (framing, `Connection`, `Date`, `Server`), then the
    /// server's own. The handler's headers are never copied. A whole body follows the head;
    /// a streamed one is returned for ``writeBody(_:)``. Synchronous, so that answering
    /// with a whole body costs no async frame.
    private func append(
        _ response: HTTPServerResponse, method: HTTPMethod, version: HTTPVersion, keepAlive: Bool
    ) -> StreamedBody? {
        var keepAlive = keepAlive && !machine.isDraining
        // connectionContains, not connectionTokens: no token array per response.
        if response.headers.connectionContains("close") {
            keepAlive = false
            machine.responseForcesClose()
        }
        let bodyAllowed = !response.status.forbidsBody
        let sendsBody = bodyAllowed && method != .HEAD

        var streamWriter: (@Sendable @concurrent (HTTPBodyWriter) async throws -> Void)?
        var chunked = false
        var bytes: [UInt8] = []
        // The framing field: Content-Length (a number), chunked, or none.
        var contentLength: Int?
        switch response.body {
        case .empty:
            if bodyAllowed { contentLength = 0 }
        case .bytes(let body):
            if bodyAllowed { contentLength = body.count }
            bytes = body
        case .stream(let length, let writer):
            streamWriter = writer
            if !bodyAllowed {
                break  // 1xx, 204 and 304 have no body, so no framing (RFC 9110 §6.4.1)
            } else if let length {
                contentLength = length
            } else if version == .http1_1 {
                chunked = true
            } else {
                keepAlive = false  // HTTP/1.0: the end of the connection ends the body
                machine.responseForcesClose()
            }
        }
        if output.capacity == 0 { output = loop.bufferPool.takeArray() }
        let date = dateCache.currentField()
        let length =
            HTTPHeadWriter.statusLineLength(version: .http1_1, status: response.status) + response.headers.lineByteCount
            + HTTPHeadWriter.fieldLength("Transfer-Encoding", valueCount: 20) + HTTPHeadWriter.fieldLength("Connection", valueCount: 10)
            + date.count + serverField.count + 2
        HTTPHeadWriter.append(to: &output, atMost: length, with: response) { writer, response in
            writer.statusLine(version: .http1_1, status: response.status)
            writer.fields(response.headers, omitting: Self.isServerOwnedField)
            if let contentLength {
                writer.field("Content-Length", decimal: contentLength)
            } else if chunked {
                writer.field("Transfer-Encoding", "chunked")
            }
            if !keepAlive {
                writer.field("Connection", "close")
            } else if version == .http1_0 {
                writer.field("Connection", "keep-alive")
            }
            serverField.withUnsafeBytes { writer.bytes($0) }
            date.withUnsafeBytes { writer.bytes($0) }
            writer.endOfLine()
        }
        if let streamWriter {
            return StreamedBody(write: streamWriter, chunked: chunked, length: contentLength, sendsBody: sendsBody)
        }
        if sendsBody { output.append(contentsOf: bytes) }
        return nil
    }

    /// Sends the head buffered by ``append(_:method:version:keepAlive:)``, then has the
    /// handler's writer stream the body.
    private func writeBody(_ body: StreamedBody) async throws {
        try await flush()
        guard body.sendsBody else { return }
        // Each write of the body gets its own deadline: a slow download of a large body
        // goes on as long as the client keeps taking bytes.
        let writer = HTTPBodyWriter(stream: stream, chunked: body.chunked, length: body.length, writeTimeout: writeTimeout)
        try await body.write(writer)
        try await writer.finish()
        stream.writeDeadline = nil
    }

    /// The fields every response of this server gets from the server alone: a handler's
    /// (a proxied upstream's `Date` and `Server`, say) are left out, never doubled.
    private static func isServerOwnedField(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 4: return HTTPASCII.equalsIgnoringCase(name, lowercase: "date")
        case 6: return HTTPASCII.equalsIgnoringCase(name, lowercase: "server")
        case 10: return HTTPASCII.equalsIgnoringCase(name, lowercase: "connection")
        case 14: return HTTPASCII.equalsIgnoringCase(name, lowercase: "content-length")
        case 17: return HTTPASCII.equalsIgnoringCase(name, lowercase: "transfer-encoding")
        default: return false
        }
    }

    private func flush() async throws {
        guard !output.isEmpty else { return }
        stream.writeDeadline = loop.now &+ writeTimeout
        try await stream.write(output[...])
        stream.writeDeadline = nil
        output.removeAll(keepingCapacity: true)
    }

    /// Answers a request that cannot be served (malformed, too large, too slow) and ends
    /// the connection with a lingering close: the rest of the request may still be coming.
    /// A draining server's answer on a connection where it read nothing of a next request
    /// is ``HTTPServerError/Reason/shuttingDown`` (see ``HTTPConnectionStateMachine/EndAction``).
    private func sendErrorAndClose(_ error: HTTPServerError) {
        machine.closed()
        ending = .lingering
        let rendered = configuration.errorRenderer.render(error)
        var response = HTTPServerResponse(status: error.status, headers: error.headers)
        response.headers.replaceOrAdd(.contentType, value: rendered.contentType)
        let body = rendered.bytes
        let date = dateCache.currentField()
        let length =
            HTTPHeadWriter.statusLineLength(version: .http1_1, status: response.status) + response.headers.lineByteCount
            + HTTPHeadWriter.fieldLength("Content-Length", valueCount: 20) + HTTPHeadWriter.fieldLength("Connection", valueCount: 5)
            + date.count + 2
        HTTPHeadWriter.append(to: &output, atMost: length, with: response) { writer, response in
            writer.statusLine(version: .http1_1, status: response.status)
            writer.fields(response.headers, omitting: Self.isServerOwnedField)
            writer.field("Content-Length", decimal: body.count)
            writer.field("Connection", "close")
            date.withUnsafeBytes { writer.bytes($0) }
            writer.endOfLine()
        }
        output.append(contentsOf: body)
    }
}

/// The `Date` field line (`Date: ...` CRLF), formatted once a second per loop.
final class HTTPDateCache: @unchecked Sendable {
    private var second = -1
    private var line: [UInt8] = []

    func currentField() -> [UInt8] {
        let now = Int(time(nil))
        if now != second {
            second = now
            line = Array("Date: \(HTTPDate.format(secondsSince1970: now))\r\n".utf8)
        }
        return line
    }
}
