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
    private let configuration: HTTPServerConfiguration
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

    /// Response bodies written to a buffer above this size are flushed at once rather
    /// than batched with the next pipelined response.
    private static let flushThreshold = 64 * 1024

    init(stream: any ByteStream, configuration: HTTPServerConfiguration, responder: any HTTPResponder, dateCache: HTTPDateCache) {
        self.stream = stream
        self.configuration = configuration
        self.responder = responder
        self.dateCache = dateCache
        self.parser = HTTPRequestParser(limits: configuration.parserLimits)
        let limits = configuration.parserLimits
        self.buffer = ReadBuffer(maxCapacity: limits.maxRequestLineLength + limits.maxHeaderBytes + 4096)
        output.reserveCapacity(4096)
    }

    /// True while the connection waits for a request and has none of it yet.
    var isIdle: Bool { machine.state == .idle }

    /// Begins a graceful close: at once when idle, else after the current response.
    func drain() {
        if machine.drainRequested() { stream.close() }
    }

    /// Serves requests until the client or the server closes the connection.
    func run() async {
        defer { stream.close() }
        while machine.state != .closed {
            guard let head = await readHead() else { break }
            let keepAlive = machine.headReceived(requestKeepAlive: head.keepAlive)
            bodyFinished = false
            bodyFailed = false
            expectsContinue = head.expectsContinue && head.version == .http1_1
            continueSent = false
            let request = HTTPServerRequest(
                head: head,
                body: parser.bodyKind == .none ? HTTPRequestBody.absent : HTTPRequestBody(source: self, isEmpty: false),
                remoteAddress: stream.remoteAddress,
                loop: stream.loop)
            let response: HTTPServerResponse
            do {
                response = try await responder.respond(to: request)
            } catch let error as any HTTPResponseError {
                response = error.response
            } catch let error as IOError {
                // The connection itself failed while the handler read the body.
                _ = error
                machine.closed()
                return
            } catch {
                response = HTTPError(.internalServerError, detail: "Internal Server Error").response
            }
            let bodyFullyRead = await finishRequestBody()
            do {
                try await write(response, for: head, keepAlive: keepAlive && bodyFullyRead)
            } catch {
                machine.closed()
                return
            }
            let more = buffer.unreadCount > 0
            if machine.responseSent(bodyFullyRead: bodyFullyRead, moreBytesBuffered: more) == .close {
                try? await flush()
                return
            }
        }
    }

    // MARK: Reading

    /// Reads and parses until a whole head is there; nil when the connection should close
    /// (EOF, timeout, malformed request — answered here).
    private func readHead() async -> HTTPRequestHead? {
        var headDeadline: UInt64?
        while true {
            let event = buffer.withUnread { parser.next($0) }
            switch event {
            case .head(let head, let consumed):
                buffer.consume(consumed)
                stream.readDeadline = nil
                return head
            case .invalid(let error):
                await sendErrorAndClose(HTTPError(error.status, detail: "Malformed request: \(error.code)"))
                return nil
            case .body, .end:
                preconditionFailure("body event while waiting for a head")
            case .needMore:
                do {
                    try await flush()
                } catch {
                    machine.closed()
                    return nil
                }
                if buffer.unreadCount > 0 { machine.bytesReceived() }
                if machine.state == .readingHead {
                    if headDeadline == nil {
                        headDeadline = monotonicNanoseconds() &+ configuration.headerReadTimeout.nanoseconds
                    }
                    stream.readDeadline = headDeadline
                } else {
                    stream.readDeadline = monotonicNanoseconds() &+ configuration.idleTimeout.nanoseconds
                }
                do {
                    let count = try await buffer.readMore(from: stream)
                    if count == 0 {
                        machine.closed()
                        return nil
                    }
                    machine.bytesReceived()
                } catch let error as IOError where error.code == .timedOut {
                    if machine.timedOut() == .sendRequestTimeoutAndClose {
                        await sendErrorAndClose(HTTPError(.requestTimeout, detail: "Request header timeout"))
                    }
                    return nil
                } catch is ReadBuffer.BufferFull {
                    await sendErrorAndClose(HTTPError(.requestHeaderFieldsTooLarge, detail: "Request header too large"))
                    return nil
                } catch {
                    machine.closed()
                    return nil
                }
            }
        }
    }

    /// The next piece of the current request's body, for ``HTTPRequestBody``.
    func nextBodyChunk() async throws -> ArraySlice<UInt8>? {
        if bodyFinished { return nil }
        if bodyFailed { throw HTTPError(.badRequest, detail: "Malformed request body") }
        if expectsContinue && !continueSent {
            // The client waits for this before sending the body (RFC 9110 §10.1.1).
            continueSent = true
            try await flush()
            try await stream.write(Self.continueResponse)
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
                throw HTTPError(error.status, detail: "Malformed request: \(error.code)")
            case .head:
                preconditionFailure("head event inside a body")
            case .needMore:
                stream.readDeadline = monotonicNanoseconds() &+ configuration.bodyReadTimeout.nanoseconds
                let count: Int
                do {
                    count = try await buffer.readMore(from: stream)
                } catch let error as IOError where error.code == .timedOut {
                    bodyFailed = true
                    throw HTTPError(.requestTimeout, detail: "Request body timeout")
                }
                if count == 0 {
                    bodyFailed = true
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

    private func write(_ response: HTTPServerResponse, for request: HTTPRequestHead, keepAlive: Bool) async throws {
        var keepAlive = keepAlive && !machine.isDraining
        var head = HTTPResponseHead(status: response.status, version: .http1_1, headers: response.headers)
        // connectionContains, not connectionTokens: no token array per response.
        if head.headers.connectionContains("close") {
            keepAlive = false
            machine.responseForcesClose()
        }
        // The server owns the framing of what it sends. Handlers rarely set these fields,
        // so look before removing: removing makes the array (shared with the handler's
        // response) unique, a copy, even when nothing matches.
        if head.headers.fields.contains(where: { Self.isFramingField($0.name) }) {
            head.headers.fields.removeAll { Self.isFramingField($0.name) }
        }
        // Room for the fields added below (framing, Connection, Server, Date), so that the
        // first add's copy of the handler's array is the only allocation.
        head.headers.fields.reserveCapacity(head.headers.count + 4)
        let code = response.status.code
        let bodyAllowed = !(100..<200).contains(code) && code != 204 && code != 304
        let sendsBody = bodyAllowed && request.method != .HEAD

        var streamWriter: (@Sendable (HTTPBodyWriter) async throws -> Void)?
        var chunked = false
        var bytes: [UInt8] = []
        switch response.body {
        case .empty:
            if bodyAllowed { head.headers.add(name: "Content-Length", value: "0") }
        case .bytes(let body):
            if bodyAllowed { head.headers.add(name: "Content-Length", value: String(body.count)) }
            bytes = body
        case .stream(let length, let writer):
            streamWriter = writer
            if let length {
                head.headers.add(name: "Content-Length", value: String(length))
            } else if request.version == .http1_1 {
                head.headers.add(name: "Transfer-Encoding", value: "chunked")
                chunked = true
            } else {
                keepAlive = false  // HTTP/1.0: the end of the connection ends the body
                machine.responseForcesClose()
            }
        }
        if !keepAlive {
            head.headers.add(name: "Connection", value: "close")
        } else if request.version == .http1_0 {
            head.headers.add(name: "Connection", value: "keep-alive")
        }
        if let serverName = configuration.serverName { head.headers.add(name: "Server", value: serverName) }
        head.headers.add(name: "Date", value: dateCache.current())
        head.write(into: &output)

        if let streamWriter {
            try await flush()
            guard sendsBody else { return }
            let writer = HTTPBodyWriter(stream: stream, chunked: chunked)
            stream.writeDeadline = monotonicNanoseconds() &+ configuration.writeTimeout.nanoseconds
            try await streamWriter(writer)
            try await writer.finish()
            stream.writeDeadline = nil
            return
        }
        if sendsBody { output.append(contentsOf: bytes) }
        if output.count >= Self.flushThreshold { try await flush() }
    }

    private static func isFramingField(_ name: String) -> Bool {
        HTTPASCII.equalsIgnoringCase(name, "Content-Length")
            || HTTPASCII.equalsIgnoringCase(name, "Transfer-Encoding")
            || HTTPASCII.equalsIgnoringCase(name, "Connection")
    }

    private func flush() async throws {
        guard !output.isEmpty else { return }
        stream.writeDeadline = monotonicNanoseconds() &+ configuration.writeTimeout.nanoseconds
        try await stream.write(output[...])
        stream.writeDeadline = nil
        output.removeAll(keepingCapacity: true)
    }

    private func sendErrorAndClose(_ error: HTTPError) async {
        machine.closed()
        var response = error.response
        response.headers.replaceOrAdd(name: "Connection", value: "close")
        var head = HTTPResponseHead(status: response.status, headers: response.headers)
        let body = error.jsonBody
        head.headers.add(name: "Content-Length", value: String(body.count))
        head.headers.add(name: "Date", value: dateCache.current())
        head.write(into: &output)
        output.append(contentsOf: body)
        try? await flush()
    }
}

/// The `Date` header's value, formatted once a second per loop.
final class HTTPDateCache: @unchecked Sendable {
    private var second = -1
    private var value = ""

    func current() -> String {
        let now = Int(time(nil))
        if now != second {
            second = now
            value = HTTPDate.format(secondsSince1970: now)
        }
        return value
    }
}
