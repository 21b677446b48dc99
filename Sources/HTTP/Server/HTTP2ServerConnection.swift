import Reactor

/// Serves one HTTP/2 connection (RFC 9113) on its loop: the I/O shell around
/// ``HTTP2ServerConnectionStateMachine``. The machine decides; this class reads, writes,
/// keeps the timers and runs each stream's handler in a task of its own, all on the
/// connection's loop. A handler's task that is done waits for the connection's next stream
/// rather than ending (see ``work(startingWith:)``).
///
/// Requests reach the same ``HTTPResponder`` as HTTP/1.1 requests, as ``HTTPServerRequest``s
/// whose head carries version 2.0, the `:authority` as `Host`, and cookies joined into one
/// field (RFC 9113 §8.2.3). The handler runs as soon as the request's head is in; its body
/// is read as DATA frames arrive (see ``HTTP2StreamHandle``), and the stream's window
/// opens again only as the handler asks for more, so a handler that forwards the body (the
/// gateway's upstream) slows the client down. Response bodies, whole or streamed, go out as
/// flow control allows. Loop-bound.
///
/// This file holds the connection's state, its read loop and its timers; the writer is in
/// `HTTP2ServerConnection+Writing.swift`, serving a stream (the handler's task, its
/// request body, its response) in `HTTP2ServerConnection+Streams.swift`. What those files
/// use of the state is internal, for them only; the rest is private.
final class HTTP2ServerConnection: @unchecked Sendable {
    /// One stream's exchange, from its request to the end of its response.
    final class Exchange {
        /// Request body bytes received and not yet handed to the handler (at most the
        /// stream's window: the client may send only what the handler made room for).
        var body: [UInt8] = []
        /// Request body bytes received in all (the size limit).
        var receivedBodyBytes = 0
        /// Bytes handed to the handler whose window is returned when it asks for more.
        var unacknowledgedBytes = 0
        var bodyComplete = false
        var trailers: [HPACKHeaderField] = []
        var tooLarge = false
        /// Whether the handler waits in ``HTTP2ServerConnection/nextBodyChunk(streamID:exchange:)``,
        /// and until when the client must send more (the server's `bodyReadTimeout`).
        var isReadingBody = false
        var bodyDeadline: UInt64 = 0
        var bodyTimedOut = false
        /// Set when the stream ended early (reset by either side, or the connection went).
        var reset = false
        /// The handler's task waiting for the body or for room to send.
        var waiter: CheckedContinuation<Void, Never>?
        /// The task running the responder, while it runs, when abandoned requests are
        /// cancelled (``HTTPServerConfiguration/cancelsAbandonedRequests``).
        var handler: UnsafeCurrentTask?

        /// The handler waits for request body bytes that have not come (the body deadline runs).
        var isWaitingForBody: Bool { isReadingBody && body.isEmpty && !bodyComplete && !tooLarge && !bodyTimedOut }

        /// The stream ended early (reset by either side, or the connection went): its handler
        /// is woken, and cancelled if it is in the responder (nobody will read its answer).
        func abandon() {
            reset = true
            handler?.cancel()
            wake()
        }

        func wake() {
            if let waiter {
                self.waiter = nil
                waiter.resume()
            }
        }
    }

    /// A stream to serve: what the read loop hands to a handler's task.
    struct StreamJob {
        let id: UInt32
        let head: HTTP2RequestHead
        let exchange: Exchange
    }

    let stream: any ByteStream
    let socket: TCPSocket?
    let loop: EventLoop
    let configuration: HTTPServerConfiguration
    let http2: HTTP2ServerConfiguration
    let responder: any HTTPResponder
    let dateCache: HTTPDateCache
    let origin: HTTPRequestOrigin
    var machine: HTTP2ServerConnectionStateMachine
    var exchanges = HTTP2StreamTable<Exchange>()
    var writerWaiter: CheckedContinuation<Void, Never>?
    /// Handlers waiting for the machine's output to shrink (a slow reader's backpressure).
    var outputWaiters: [CheckedContinuation<Void, Never>] = []
    var isClosed = false
    /// Handlers' tasks done with their streams, waiting for the next (nil: end).
    var idleWorkers: [CheckedContinuation<StreamJob?, Never>] = []
    /// Handlers waiting in ``nextBodyChunk(streamID:exchange:)``: only then can a body
    /// deadline run, so the timer looks for one only then.
    var handlersReadingBody = 0
    private var timer: TimerHandle?
    private var timerDeadline: UInt64?
    private let idleTimeout: UInt64
    let bodyReadTimeout: UInt64
    var lastActivity: UInt64

    /// How long a connection that ended by protocol keeps reading (and dropping) input.
    private static let lingerTime: UInt64 = 2_000_000_000
    /// How long handlers' tasks wait for another stream on a connection that has none.
    static let workerKeepTime: UInt64 = 1_000_000_000
    /// Output above this size makes streamed bodies wait for the socket.
    static let outputHighWater = 256 * 1024
    /// An output buffer this large or smaller is kept for the next output once written (until
    /// the connection has been quiet for ``workerKeepTime``).
    static let reusedOutputCapacity = 4 * 1024

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
                    exchanges[id] = exchange
                    let job = StreamJob(id: id, head: head, exchange: exchange)
                    if let worker = idleWorkers.popLast() {
                        worker.resume(returning: job)
                    } else {
                        group.addTask(executorPreference: loop) { await self.work(startingWith: job) }
                    }
                } else {
                    handle(action)
                }
            }
            takeOutput()
            armTimer()
        }
    }

    /// Runs what the machine asked for, except new requests (the read loop starts those).
    func perform(_ actions: [HTTP2ServerAction]) {
        for action in actions { handle(action) }
        takeOutput()
        armTimer()
    }

    private func handle(_ action: HTTP2ServerAction) {
        switch action {
        case .request:
            preconditionFailure("requests are started by the read loop")
        case .body(let id, let bytes):
            guard let exchange = exchanges[id], !exchange.tooLarge else { return }
            exchange.receivedBodyBytes += bytes.count
            if exchange.receivedBodyBytes > http2.maxRequestBodySize {
                exchange.tooLarge = true
                exchange.body = []
            } else {
                // Held until the handler reads it: its window opens only then (backpressure).
                exchange.body.append(contentsOf: bytes)
            }
            exchange.wake()
        case .endOfBody(let id, let trailers):
            guard let exchange = exchanges[id] else { return }
            exchange.bodyComplete = true
            exchange.trailers = trailers
            exchange.wake()
        case .streamReset(let id, _):
            exchanges.removeValue(forKey: id)?.abandon()
        case .sendQueueDrained(let id):
            exchanges[id]?.wake()
        case .closeConnection:
            // The writer sends the GOAWAY and ends our side; the read loop lingers.
            wakeAll()
        }
    }

    // MARK: Timers

    /// Keeps one loop timer at the earliest of the machine's deadline, the request bodies'
    /// deadlines and the idle timeout.
    func armTimer() {
        guard !isClosed else { return }
        var deadline = Self.nextDeadline(of: &machine)
        if exchanges.isEmpty {
            let idle = lastActivity &+ (idleWorkers.isEmpty ? idleTimeout : min(idleTimeout, Self.workerKeepTime))
            deadline = min(deadline ?? idle, idle)
        }
        if handlersReadingBody > 0 {
            for (_, exchange) in exchanges where exchange.isWaitingForBody {
                deadline = min(deadline ?? exchange.bodyDeadline, exchange.bodyDeadline)
            }
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

    /// The machine's next deadline, read in place: read from the property, the machine is
    /// copied first, retaining (then releasing) every buffer and table it holds.
    private static func nextDeadline(of machine: inout HTTP2ServerConnectionStateMachine) -> UInt64? {
        machine.nextDeadline
    }

    private func timerFired() {
        guard !isClosed else { return }
        let now = loop.now
        if exchanges.isEmpty && now &- lastActivity >= idleTimeout {
            perform(machine.beginGracefulShutdown())
            if !machine.isClosed { close() }
            return
        }
        if exchanges.isEmpty && now &- lastActivity >= Self.workerKeepTime {
            releaseIdleWorkers()
            // Nor does a quiet connection keep the output buffer the writer gave back.
            if machine.output.isEmpty { machine.output = [] }
        }
        // A request body that stopped coming: its handler answers 408 (as HTTP/1.1's does).
        for (_, exchange) in exchanges where exchange.isWaitingForBody && now >= exchange.bodyDeadline {
            exchange.bodyTimedOut = true
            exchange.wake()
        }
        perform(machine.timerFired(now: now))
    }
}
