import Logging
import Reactor

/// Serves the requests of one connection, one after another, in its own task on the
/// connection's loop: read a head, call the responder, write the response, repeat.
///
/// A keep-alive connection that waits longer than ``HTTPServerConfiguration/parkingDelay``
/// for its next request, or one that would wait while too many wait already (``IdleWaitQueue``),
/// **parks**: the wait ends, ``run()`` returns
/// ``RunOutcome/parked`` holding no buffer and no task (whose suspended frames would be most
/// of an idle connection's memory), and the server calls ``run()`` again in a new task when
/// the socket becomes readable, its idle deadline passes or it is closed. Plain TCP and TLS
/// connections park alike (a TLS one when OpenSSL holds no received byte).
///
/// Pipelined requests are answered in order, and their responses go out in one write when
/// the next request is already buffered. The rules of when to keep the connection, time
/// it out or close it for a drain live in ``HTTPConnectionStateMachine``; this class does
/// the I/O. Loop-bound.
///
/// This file holds the connection's state and its request loop; reading a head and a
/// body is in `HTTPServerConnection+Reading.swift`, writing a response in
/// `HTTPServerConnection+Writing.swift`. What those two files use of the state is internal,
/// for them only; the rest is private.
final class HTTPServerConnection: @unchecked Sendable {
    let stream: any ByteStream
    /// `stream` when it is a plain TCP socket, read directly (see `ReadBuffer.readMore`).
    let socket: TCPSocket?
    /// `stream`'s loop, kept: each access through the existential is a witness call and a retain.
    let loop: EventLoop
    /// The peer's address, its numeric host and the loop, made once for all the connection's requests.
    private let origin: HTTPRequestOrigin
    /// What all the server's connections share (configuration, timeouts, fixed fields).
    let shared: Shared
    /// ``Shared/responder``, kept here: called through the connection's own reference, the
    /// existential is not copied for each request.
    let responder: any HTTPResponder
    /// ``Shared/serverField`` (the same storage), and ``Shared``'s timeouts, kept here: read on
    /// every request, through the connection's own reference.
    let serverField: [UInt8]
    let headerReadTimeout: UInt64
    let idleTimeout: UInt64
    let bodyReadTimeout: UInt64
    let writeTimeout: UInt64
    /// Its loop's connections waiting for a request in a task, which decides when this one
    /// parks; nil: never park.
    let idleWaiters: IdleWaitQueue?
    /// The socket that the connection's idle wait watches (``ByteStream/socketToWatch``), set
    /// when that wait begins: ``idleWaiters`` ends the wait there, and a parked connection
    /// wakes on it (the server reserves it for the task that runs the connection next).
    var watchedSocket: TCPSocket?
    let dateCache: HTTPDateCache
    let buffer: ReadBuffer
    var parser: HTTPRequestParser
    var machine = HTTPConnectionStateMachine()
    var output: [UInt8] = []

    // Per-request state.
    var bodyFinished = true
    /// A chunked body's trailer fields, once it is read to its end.
    var bodyTrailers: HTTPHeaders?
    var bodyFailed = false
    var expectsContinue = false
    var continueSent = false
    /// Set when reading the request body failed on the connection itself (reset, end of
    /// stream): an `IOError` the handler passes on is then the client's, not the handler's.
    var connectionFailed = false
    /// How the connection ends once it stops serving.
    var ending = Ending.graceful
    /// When the idle wait for the next request ends; kept across a park, so that waking
    /// does not restart the idle timeout. nil outside that wait.
    var idleDeadline: UInt64?
    /// When the current idle wait for a request began (``EventLoop/now``), while the connection
    /// waits in ``idleWaiters``. Set by that queue, as are the list it is in and its two links.
    var idleWaitStarted: UInt64 = 0
    var idleMembership = IdleMembership.none
    var olderIdle: Unmanaged<HTTPServerConnection>?
    var newerIdle: Unmanaged<HTTPServerConnection>?
    /// Set when the request loop stops to park rather than to end (see ``RunOutcome``).
    var parks = false
    /// Whether a response has been written on this connection (see ``drain()``).
    private var hasAnswered = false
    /// Whether the drain ended the stream's reading (which raises the same event as a client's
    /// close); see `HTTPServerConnection+ClientGone.swift`.
    private(set) var readingEnded = false
    /// The address of this connection's task while a handler runs in it, when
    /// ``HTTPServerConfiguration/cancelsAbandonedRequests`` (see `HTTPServerConnection+ClientGone.swift`).
    var runningHandler: UnsafeRawPointer?
    /// Set when the client went away while its handler ran: the answer is dropped.
    var clientIsGone = false

    /// How a connection ends.
    enum Ending {
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

    /// What every HTTP/1.1 connection of a server shares, made once per server: one reference
    /// per connection rather than a copy of each (an idle connection costs mostly its object).
    final class Shared: Sendable {
        let configuration: HTTPServerConfiguration
        let responder: any HTTPResponder
        /// The `Server` field line (`Server: name` CRLF, sanitized) and the fixed fields, made
        /// once rather than checked per response; empty when there are none.
        let serverField: [UInt8]
        /// The configuration's timeouts in nanoseconds, converted once: a `Duration` keeps
        /// attoseconds, and converting one costs a 128-bit division, for every deadline set.
        let headerReadTimeout: UInt64
        let idleTimeout: UInt64
        let bodyReadTimeout: UInt64
        let writeTimeout: UInt64
        let lingeringTimeout: UInt64
        let parkingDelay: UInt64?
        let cancelsAbandonedRequests: Bool
        /// Room for a whole head (the request line, the fields and slack).
        let maxReadCapacity: Int

        init(configuration: HTTPServerConfiguration, responder: any HTTPResponder) {
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
            self.responder = responder
            headerReadTimeout = configuration.headerReadTimeout.nanoseconds
            idleTimeout = configuration.idleTimeout.nanoseconds
            bodyReadTimeout = configuration.bodyReadTimeout.nanoseconds
            writeTimeout = configuration.writeTimeout.nanoseconds
            lingeringTimeout = configuration.lingeringTimeout.nanoseconds
            parkingDelay = configuration.parkingDelay?.nanoseconds
            cancelsAbandonedRequests = configuration.cancelsAbandonedRequests
            let limits = configuration.parserLimits
            maxReadCapacity = limits.maxRequestLineLength + limits.maxHeaderBytes + 4096
        }
    }

    init(stream: any ByteStream, shared: Shared, dateCache: HTTPDateCache, idleWaiters: IdleWaitQueue? = nil) {
        self.stream = stream
        socket = stream as? TCPSocket
        loop = stream.loop
        origin = HTTPRequestOrigin(loop: loop, remoteAddress: stream.remoteAddress)
        self.shared = shared
        responder = shared.responder
        serverField = shared.serverField
        headerReadTimeout = shared.headerReadTimeout
        idleTimeout = shared.idleTimeout
        bodyReadTimeout = shared.bodyReadTimeout
        writeTimeout = shared.writeTimeout
        self.idleWaiters = idleWaiters
        watchedSocket = socket
        self.dateCache = dateCache
        parser = HTTPRequestParser(limits: shared.configuration.parserLimits)
        buffer = ReadBuffer(pool: loop.bufferPool, maxCapacity: shared.maxReadCapacity)
        if shared.cancelsAbandonedRequests { watchForTheClientGoing() }
    }

    convenience init(
        stream: any ByteStream, configuration: HTTPServerConfiguration, responder: any HTTPResponder,
        dateCache: HTTPDateCache
    ) {
        self.init(stream: stream, shared: Shared(configuration: configuration, responder: responder), dateCache: dateCache)
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
        if machine.drainRequested() && hasAnswered {
            readingEnded = true
            stream.endReading()
        }
    }

    /// How ``run()`` stopped.
    enum RunOutcome {
        /// The connection is closed, or closes by itself (a lingering close ends with it).
        case ended
        /// Idle, holding no buffer: ``IdleWaitQueue/park(_:on:)`` it on ``watchedSocket``, and
        /// call ``run()`` again, in a new task, when the queue wakes it.
        case parked
    }

    /// Serves requests until the client or the server closes the connection, then ends it
    /// (see ``Ending``), or until it parks.
    func run() async -> RunOutcome {
        await serve()
        if parks {
            parks = false
            return .parked
        }
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
                return .ended
            }
            if ending == .lingering {
                await stream.closeLingering(until: loop.now &+ shared.lingeringTimeout)
            } else {
                await stream.closeGracefully()
            }
        }
        return .ended
    }

    private func serve() async {
        while machine.state != .closed {
            guard let head = await readHead() else { break }
            let keepAlive = machine.headReceived(requestKeepAlive: head.keepAlive)
            let hasBody = parser.bodyKind != .none
            if !hasBody { stepPastAbsentBody() }
            bodyFinished = !hasBody
            bodyTrailers = nil
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
                response = try await respond(to: consume request)
            } catch is IOError where connectionFailed {
                // The connection itself failed while the handler read the body.
                machine.closed()
                ending = .abort
                return
            } catch {
                // The handler's own failure (its own I/O included): the client gets an answer.
                response = shared.configuration.response(toHandlerError: error, method: method, protocol: "HTTP/1.1")
            }
            if clientIsGone {
                // Nobody reads this answer: the connection ends now.
                machine.closed()
                ending = .abort
                return
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
                shared.configuration.logger.error(
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
}

extension HTTPServerConnection: SocketReadObserver, IdleNode {
    /// The wait of a parked connection ended (see ``IdleWaitQueue/park(_:on:)``).
    func socketReadWaitEnded() {
        idleWaiters?.socketReadWaitEnded(self)
    }
}
