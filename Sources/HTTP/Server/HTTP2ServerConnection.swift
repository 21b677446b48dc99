import Logging
import Reactor

/// Serves one HTTP/2 connection (RFC 9113) on its loop: the I/O shell around
/// ``HTTP2ServerConnectionStateMachine``. The machine decides; this class reads, writes,
/// keeps the timers and runs one handler task per stream, all on the connection's loop.
///
/// Requests reach the same ``HTTPResponder`` as HTTP/1.1 requests, as ``HTTPServerRequest``s
/// whose head carries version 2.0, the `:authority` as `Host`, and cookies joined into one
/// field (RFC 9113 §8.2.3). A request body is read whole before the handler runs (as nginx
/// buffers request bodies by default), up to ``HTTP2ServerConfiguration/maxRequestBodySize``;
/// response bodies, whole or streamed, go out as flow control allows. Loop-bound.
final class HTTP2ServerConnection: @unchecked Sendable {
    /// One stream's exchange, from its request to the end of its response.
    final class Exchange {
        var body: [UInt8] = []
        var bodyComplete = false
        var tooLarge = false
        /// When the request body must have moved on by (the server's `bodyReadTimeout` from
        /// the request or its last DATA), and whether it failed to.
        var bodyDeadline: UInt64 = 0
        var bodyTimedOut = false
        /// Set when the stream ended early (reset by either side, or the connection went).
        var reset = false
        /// The handler's task waiting for the body or for room to send.
        var waiter: CheckedContinuation<Void, Never>?

        /// The handler waits for the rest of the request body.
        var isWaitingForBody: Bool { !bodyComplete && !tooLarge && !bodyTimedOut }

        func wake() {
            if let waiter {
                self.waiter = nil
                waiter.resume()
            }
        }
    }

    let stream: any ByteStream
    private let socket: TCPSocket?
    let loop: EventLoop
    private let configuration: HTTPServerConfiguration
    private let http2: HTTP2ServerConfiguration
    private let responder: any HTTPResponder
    private let dateCache: HTTPDateCache
    private let origin: HTTPRequestOrigin
    private var machine: HTTP2ServerConnectionStateMachine
    private var exchanges: [UInt32: Exchange] = [:]
    /// Bytes the machine produced and the writer has not sent yet.
    private var pendingOutput: [UInt8] = []
    private var writerWaiter: CheckedContinuation<Void, Never>?
    /// Handlers waiting for `pendingOutput` to shrink (a slow reader's backpressure).
    private var outputWaiters: [CheckedContinuation<Void, Never>] = []
    private var isClosed = false
    private var timer: TimerHandle?
    private var timerDeadline: UInt64?
    private let idleTimeout: UInt64
    private let bodyReadTimeout: UInt64
    private var lastActivity: UInt64

    /// How long a connection that ended by protocol keeps reading (and dropping) input.
    private static let lingerTime: UInt64 = 2_000_000_000
    /// Output above this size makes streamed bodies wait for the socket.
    private static let outputHighWater = 256 * 1024

    init(
        stream: any ByteStream, configuration: HTTPServerConfiguration, http2: HTTP2ServerConfiguration,
        responder: any HTTPResponder, dateCache: HTTPDateCache
    ) {
        self.stream = stream
        socket = stream as? TCPSocket
        loop = stream.loop
        self.configuration = configuration
        self.http2 = http2
        self.responder = responder
        self.dateCache = dateCache
        origin = HTTPRequestOrigin(loop: loop, remoteAddress: stream.remoteAddress)
        machine = HTTP2ServerConnectionStateMachine(configuration: http2, errorRenderer: configuration.errorRenderer)
        idleTimeout = configuration.idleTimeout.nanoseconds
        bodyReadTimeout = configuration.bodyReadTimeout.nanoseconds
        lastActivity = stream.loop.now
    }

    /// Begins a graceful close: GOAWAY, then close once the open streams are answered.
    func drain() {
        guard !isClosed else { return }
        perform(machine.beginGracefulShutdown())
    }

    /// Serves the connection until either side closes it.
    func run() async {
        machine.start(now: loop.now)
        takeOutput()
        await withDiscardingTaskGroup { group in
            group.addTask(executorPreference: loop) { await self.writeLoop() }
            await readLoop(group: &group)
            // Handlers still running see their streams reset and end on their own (their
            // upstream calls have deadlines); the writer sends what is queued, then ends.
            close()
        }
        timer?.cancel()
        stream.close()
    }

    // MARK: Reading

    private func readLoop(group: inout DiscardingTaskGroup) async {
        var input: [UInt8] = []
        // Safe: allocated here, used only by this loop's reads, freed when it returns.
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { scratch.deallocate() }
        armTimer()
        var lingering = false
        while !isClosed {
            if machine.isClosed && !lingering {
                // The connection ended by protocol (GOAWAY sent): read and drop what the client
                // still sends for a moment, so that closing does not reset the connection
                // and destroy the GOAWAY before the client has read it (a lingering close).
                lingering = true
                stream.readDeadline = loop.now &+ Self.lingerTime
            }
            let count: Int
            do {
                count = try await TCPSocket.read(into: scratch, from: stream, socket: socket)
            } catch {
                return
            }
            guard count > 0 else { return }
            if lingering { continue }
            lastActivity = loop.now
            input.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
            let (consumed, actions) = input.withUnsafeBytes { machine.received($0, now: loop.now) }
            input.removeFirst(consumed)
            for action in actions {
                if case .request(let id, let head, let endStream) = action {
                    let exchange = Exchange()
                    exchange.bodyComplete = endStream
                    exchange.bodyDeadline = loop.now &+ bodyReadTimeout
                    exchanges[id] = exchange
                    group.addTask(executorPreference: loop) { await self.serve(id, head: head, exchange: exchange) }
                } else {
                    handle(action)
                }
            }
            takeOutput()
            armTimer()
        }
    }

    /// Runs what the machine asked for, except new requests (the read loop starts those).
    private func perform(_ actions: [HTTP2ServerAction]) {
        for action in actions { handle(action) }
        takeOutput()
        armTimer()
    }

    private func handle(_ action: HTTP2ServerAction) {
        switch action {
        case .request:
            preconditionFailure("requests are started by the read loop")
        case .body(let id, let bytes):
            guard let exchange = exchanges[id] else { return }
            exchange.bodyDeadline = loop.now &+ bodyReadTimeout
            if exchange.body.count + bytes.count > http2.maxRequestBodySize {
                exchange.tooLarge = true
                exchange.body = []
            } else if !exchange.tooLarge {
                exchange.body.append(contentsOf: bytes)
            }
            // Buffered here, so the client may send on: the window opens as bytes arrive.
            machine.bodyConsumed(streamID: id, count: bytes.count)
            if exchange.tooLarge { exchange.wake() }
        case .endOfBody(let id, _):
            exchanges[id]?.bodyComplete = true
            exchanges[id]?.wake()
        case .streamReset(let id, _):
            if let exchange = exchanges.removeValue(forKey: id) {
                exchange.reset = true
                exchange.wake()
            }
        case .sendQueueDrained(let id):
            exchanges[id]?.wake()
        case .closeConnection:
            // The writer sends the GOAWAY and ends our side; the read loop lingers.
            wakeAll()
        }
    }

    // MARK: Writing

    /// Moves the machine's output to the writer.
    private func takeOutput() {
        let bytes = machine.takeOutput()
        guard !bytes.isEmpty, !isClosed || machine.isClosed else { return }
        pendingOutput.append(contentsOf: bytes)
        if let waiter = writerWaiter {
            writerWaiter = nil
            waiter.resume()
        }
    }

    /// Sends output as it collects: everything the machine wrote during one turn of the
    /// loop goes out in one write.
    private func writeLoop() async {
        while true {
            if pendingOutput.isEmpty {
                if isClosed { return }
                await withCheckedContinuation { writerWaiter = $0 }
                continue
            }
            let bytes = pendingOutput
            pendingOutput = []
            stream.writeDeadline = loop.now &+ configuration.writeTimeout.nanoseconds
            do {
                try await stream.write(bytes[...])
            } catch {
                stream.writeDeadline = nil
                isClosed = true
                stream.close()
                wakeAll()
                return
            }
            stream.writeDeadline = nil
            lastActivity = loop.now
            let waiters = outputWaiters
            outputWaiters = []
            for waiter in waiters { waiter.resume() }
            if machine.isClosed && pendingOutput.isEmpty {
                // All said (GOAWAY last): end our side; the read loop lingers until the client closes.
                if let socket { socket.shutdownWrite() } else { await stream.closeGracefully() }
                wakeAll()
                return
            }
        }
    }

    /// Ends the connection: whatever is queued is still written (a GOAWAY), then the socket closes.
    private func close() {
        guard !isClosed else { return }
        isClosed = true
        if let waiter = writerWaiter {
            writerWaiter = nil
            waiter.resume()
        }
        wakeAll()
        if pendingOutput.isEmpty { stream.close() }
    }

    private func wakeAll() {
        for exchange in exchanges.values {
            exchange.reset = true
            exchange.wake()
        }
        exchanges = [:]
        let waiters = outputWaiters
        outputWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Timers

    /// Keeps one loop timer at the earliest of the machine's deadline, the request bodies'
    /// deadlines and the idle timeout.
    private func armTimer() {
        guard !isClosed else { return }
        var deadline = machine.nextDeadline
        if exchanges.isEmpty {
            let idle = lastActivity &+ idleTimeout
            deadline = min(deadline ?? idle, idle)
        }
        for exchange in exchanges.values where exchange.isWaitingForBody {
            deadline = min(deadline ?? exchange.bodyDeadline, exchange.bodyDeadline)
        }
        guard let deadline, deadline != timerDeadline else { return }
        timer?.cancel()
        timerDeadline = deadline
        let delay = Duration.nanoseconds(Int64(deadline > loop.now ? deadline - loop.now : 0))
        timer = loop.schedule0(after: delay) { [self] in
            timerDeadline = nil
            timer = nil
            timerFired()
        }
    }

    private func timerFired() {
        guard !isClosed else { return }
        let now = loop.now
        if exchanges.isEmpty && now &- lastActivity >= idleTimeout {
            perform(machine.beginGracefulShutdown())
            if !machine.isClosed { close() }
            return
        }
        // A request body that stopped coming: its handler answers 408 (as HTTP/1.1's does).
        for exchange in exchanges.values where exchange.isWaitingForBody && now >= exchange.bodyDeadline {
            exchange.bodyTimedOut = true
            exchange.wake()
        }
        perform(machine.timerFired(now: now))
    }

    // MARK: Serving a stream

    private func serve(_ id: UInt32, head: HTTP2RequestHead, exchange: Exchange) async {
        while exchange.isWaitingForBody && !exchange.reset {
            await withCheckedContinuation { exchange.waiter = $0 }
        }
        if exchange.reset { return }
        let response: HTTPServerResponse
        let method = HTTPMethod(rawValue: head.method) ?? .GET
        if exchange.tooLarge {
            response = configuration.errorRenderer.response(for: HTTPServerError(.bodyTooLarge(limit: nil)))
        } else if exchange.bodyTimedOut {
            response = configuration.errorRenderer.response(for: HTTPServerError(.bodyTimeout))
        } else {
            let body = exchange.body.isEmpty ? HTTPRequestBody.absent : HTTPRequestBody(bytes: exchange.body)
            let request = HTTPServerRequest(
                head: Self.requestHead(head, bodyLength: exchange.body.count), body: body, origin: origin)
            do {
                response = try await responder.respond(to: consume request)
            } catch let error as HTTPServerError {
                response = configuration.errorRenderer.response(for: error)
            } catch let error as any HTTPResponseError {
                response = error.response
            } catch {
                // The handler's own failure: the client gets an answer, the log the reason.
                configuration.logger.error(
                    "handler failed", error: error, metadata: ["method": .string(method.rawValue), "protocol": "HTTP/2"])
                response = configuration.errorRenderer.response(for: .handlerFailed)
            }
            exchange.body = []
        }
        guard !exchange.reset, !isClosed else { return }
        await send(response, on: id, method: method, exchange: exchange)
        if !exchange.bodyComplete && !exchange.reset {
            // Answered before the whole request body (413, 408): once the answer is framed,
            // the rest of the body is refused with RST_STREAM(NO_ERROR) (RFC 9113 §8.1), which
            // also frees the stream's place among the concurrent ones.
            while !exchange.reset, !isClosed, let pending = machine.pendingByteCount(streamID: id), pending > 0 {
                await withCheckedContinuation { exchange.waiter = $0 }
            }
            if !exchange.reset, !isClosed { perform(machine.cancelStream(streamID: id, code: .noError)) }
        }
        exchanges[id] = nil
        armTimer()
    }

    /// The request as the responders see it: an HTTP/1.1-shaped head with version 2.0. A
    /// body without `content-length` (HTTP/2 frames bodies itself) gets one from its buffered
    /// length, so that a proxy forwards it with the framing HTTP/1.1 needs.
    static func requestHead(_ head: HTTP2RequestHead, bodyLength: Int) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.fields.count + 1)
        var hasHost = false
        var cookies: [String] = []
        for field in head.fields {
            if field.name.elementsEqual("cookie".utf8) {
                cookies.append(String(decoding: field.value, as: UTF8.self))
                continue
            }
            if field.name.elementsEqual("host".utf8) { hasHost = true }
            headers.add(name: String(decoding: field.name, as: UTF8.self), value: String(decoding: field.value, as: UTF8.self))
        }
        if !hasHost, let authority = head.authority { headers.add(name: "host", value: authority) }
        if !cookies.isEmpty { headers.add(name: "cookie", value: cookies.joined(separator: "; ")) }
        if head.contentLength == nil, bodyLength > 0 { headers.add(name: "content-length", value: String(bodyLength)) }
        let method = HTTPMethod(rawValue: head.method) ?? .GET
        return HTTPRequestHead(method: method, target: head.path, version: HTTPVersion(major: 2, minor: 0), headers: headers)
    }

    private func send(_ response: HTTPServerResponse, on id: UInt32, method: HTTPMethod, exchange: Exchange) async {
        let code = response.status.code
        let bodyAllowed = !response.status.forbidsBody
        let sendsBody = bodyAllowed && method != .HEAD
        var contentLength: Int?
        var bytes: [UInt8] = []
        var streamWriter: (@Sendable @concurrent (HTTPBodyWriter) async throws -> Void)?
        switch response.body {
        case .empty:
            if bodyAllowed { contentLength = 0 }
        case .bytes(let body):
            if bodyAllowed { contentLength = body.count }
            bytes = body
        case .stream(let length, let writer):
            contentLength = bodyAllowed ? length : nil
            streamWriter = writer
        }
        let endsWithHead = !sendsBody || (streamWriter == nil && bytes.isEmpty)
        let date = dateCache.currentField()
        let result = machine.sendResponseHead(streamID: id, status: code, endStream: endsWithHead, now: loop.now) { fields in
            response.headers.forEachField { name, value in
                guard !Self.isServerOwnedField(name) else { return }
                fields.add(name: name, value: value)
            }
            if let contentLength { fields.add(name: "content-length", value: String(contentLength)) }
            if let serverName = configuration.serverName { fields.add(name: "server", value: serverName) }
            configuration.fixedFields.forEachField { name, value in fields.add(name: name, value: value) }
            // The cache holds the whole `Date: ...` CRLF line: the value is between the two.
            fields.add(name: "date", value: String(decoding: date[6..<(date.count - 2)], as: UTF8.self))
        }
        perform(result.actions)
        guard result.sent, !endsWithHead else { return }
        if let streamWriter {
            let writer = HTTPBodyWriter(
                stream: HTTP2StreamWriter(connection: self, streamID: id, exchange: exchange), chunked: false,
                length: contentLength, writeTimeout: configuration.writeTimeout.nanoseconds)
            do {
                try await streamWriter(writer)
                try await writer.finish()
            } catch {
                // A failed writer, or a body that does not match its content-length: the
                // client learns that the response is incomplete from the reset.
                if !exchange.reset, !isClosed {
                    configuration.logger.error(
                        "response body failed; stream reset", error: error,
                        metadata: ["method": .string(method.rawValue), "protocol": "HTTP/2"])
                }
                perform(machine.cancelStream(streamID: id, code: .internalError))
                return
            }
            perform(machine.sendData(streamID: id, [][...], endStream: true, now: loop.now).actions)
        } else {
            perform(machine.sendData(streamID: id, bytes[...], endStream: true, now: loop.now).actions)
        }
    }

    /// Queues a piece of a streamed body and waits until flow control has framed it and the
    /// socket has taken most of the output (backpressure for a slow client).
    func writeBody(_ bytes: ArraySlice<UInt8>, streamID id: UInt32, exchange: Exchange) async throws {
        guard !exchange.reset, !isClosed else { throw IOError(.closed, operation: "write") }
        perform(machine.sendData(streamID: id, bytes, endStream: false, now: loop.now).actions)
        while !exchange.reset, !isClosed, let pending = machine.pendingByteCount(streamID: id), pending > 0 {
            await withCheckedContinuation { exchange.waiter = $0 }
        }
        while !isClosed, pendingOutput.count > Self.outputHighWater {
            await withCheckedContinuation { outputWaiters.append($0) }
        }
        if exchange.reset || isClosed { throw IOError(.closed, operation: "write") }
    }

    /// Fields the server writes itself (`date`, `server`, `content-length`): a handler's (a
    /// proxied upstream's) are left out. (``HTTP2FieldBlockWriter`` leaves out those HTTP/2
    /// forbids.)
    private static func isServerOwnedField(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 4: HTTPASCII.equalsIgnoringCase(name, lowercase: "date")
        case 6: HTTPASCII.equalsIgnoringCase(name, lowercase: "server")
        case 14: HTTPASCII.equalsIgnoringCase(name, lowercase: "content-length")
        default: false
        }
    }
}
