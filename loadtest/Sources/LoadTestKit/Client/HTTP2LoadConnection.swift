import HTTP
import Reactor
import TLS

/// One HTTP/2 client connection (RFC 9113) shared by the virtual users of a loop, each
/// request a stream. Small on purpose, like ``HTTP1Connection``: GET and small bodies, no
/// server push (SETTINGS_ENABLE_PUSH 0), no priorities.
///
/// No task of its own reads the socket: a stream waiting for its response reads for
/// everyone when nobody else is (leader and followers), hands the socket to another waiter
/// when its own response is complete, and bounds the read by its own deadline; a waiter that
/// is not reading sleeps until its response is complete or the socket is handed to it. So
/// every wait ends by some stream's deadline, and the connection needs no unstructured task.
///
/// Frames to send collect in one buffer and go out at the end of the loop's round
/// (``ByteStream/sendAtEndOfRound(_:)``), so the requests of a round share one write.
///
/// Loop-bound: every call on `loop` (`@unchecked Sendable` only to sit in the target's
/// registry, which hands it to executors made on that loop).
final class HTTP2LoadConnection: @unchecked Sendable {
    /// One request in flight.
    final class PendingStream {
        let id: UInt32
        let collect: Bool
        var result = LoadResult(status: 0)
        var headers = HTTPHeaders()
        var done = false
        /// The server refused the stream before working on it (REFUSED_STREAM, or above a
        /// GOAWAY's last stream): it may be sent again.
        var retryable = false
        /// Stream window for our request body (RFC 9113 §6.9).
        var sendWindow: Int
        var waiter: CheckedContinuation<Void, Never>?

        init(id: UInt32, collect: Bool, sendWindow: Int) {
            self.id = id
            self.collect = collect
            self.sendWindow = sendWindow
        }

        func wake() {
            if let waiter {
                self.waiter = nil
                waiter.resume()
            }
        }
    }

    let target: HTTP2Target
    let loop: EventLoop
    /// Executors sharing the connection; the last one to close closes it.
    var users = 0

    private var stream: (any ByteStream)?
    private var connecting = false
    private var connectWaiters: [CheckedContinuation<Void, Never>] = []
    private var lastConnectError: LoadErrorKind?
    private var streams: [UInt32: PendingStream] = [:]
    private var nextStreamID: UInt32 = 1
    private var encoder = HPACKEncoder()
    private var decoder = HPACKDecoder(maxTableSize: 4096, maxHeaderListSize: 1 << 20)
    private var frameDecoder = HTTP2FrameDecoder(maxFrameSize: 16_384)
    /// A field block still waiting for CONTINUATION frames.
    private var headerBlock: (streamID: UInt32, fragment: [UInt8], endStream: Bool)?
    private var output: [UInt8] = []
    private var writing = false
    private var reading = false
    /// The peer's limits (SETTINGS), and streams waiting for a free one.
    private var peerMaxConcurrentStreams = 100
    private var peerInitialWindow = 65_535
    private var peerMaxFrameSize = 16_384
    private var slotWaiters: [CheckedContinuation<Void, Never>] = []
    /// GOAWAY received: no new streams here; the connection closes once its last stream ends.
    private var goingAway = false
    private var connectionSendWindow = 65_535
    /// Response bytes consumed and not yet returned to the server's connection window.
    private var unacknowledged = 0
    /// Read buffer: bytes `[start, end)` are received and not yet decoded. Manually allocated
    /// because a read suspends and no array's storage may be borrowed across a suspension;
    /// freed in deinit.
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    /// What the connection announces: a large receive window, so that a response rarely
    /// waits for a WINDOW_UPDATE, and no push.
    private static let receiveWindow = 1 << 24
    private static let settings: [HTTP2Setting] = [
        HTTP2Setting(.enablePush, 0), HTTP2Setting(.initialWindowSize, UInt32(receiveWindow)),
        HTTP2Setting(.maxFrameSize, 16_384),
    ]

    init(target: HTTP2Target, loop: EventLoop) {
        self.target = target
        self.loop = loop
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit {
        stream?.close()
        buffer.deallocate()
    }

    /// Sends `request` on a stream and waits for its response; a stream the server refused
    /// unprocessed is sent once more (on a new connection when this one is going away).
    func send(_ request: LoadRequest) async -> LoadResult {
        let first = await attempt(request)
        guard first.retryable else { return first.result }
        let second = await attempt(request)
        return second.retryable ? .failed(.reset) : second.result
    }

    func close() {
        stream?.close()
        fail(all: .reset)
    }

    // MARK: One request

    private func attempt(_ request: LoadRequest) async -> (result: LoadResult, retryable: Bool) {
        let deadline = monotonicNanoseconds() &+ target.timeout.nanoseconds
        if let failure = await connectIfNeeded() { return (.failed(failure), false) }
        await waitForSlot(until: deadline)
        guard monotonicNanoseconds() < deadline else { return (.failed(.timeout), false) }
        if stream == nil, let failure = await connectIfNeeded() { return (.failed(failure), false) }
        let id = nextStreamID
        nextStreamID += 2
        let pending = PendingStream(id: id, collect: request.collectBody, sendWindow: peerInitialWindow)
        streams[id] = pending
        writeHeaders(request, streamID: id)
        if !request.body.isEmpty { await writeBody(request.body, for: pending, until: deadline) }
        await flush()
        await waitForResponse(pending, until: deadline)
        if !pending.done {
            // Our deadline passed: cancel the stream so the server stops working on it.
            streams[id] = nil
            if stream != nil {
                HTTP2FrameEncoder.rstStream(streamID: id, code: .cancel, into: &output)
                await flush()
            }
            pending.result = .failed(.timeout)
            streamEnded()
        }
        if pending.collect, pending.result.error == nil {
            pending.result.head = HTTPResponseHead(
                status: HTTPStatus(code: pending.result.status), version: HTTPVersion(major: 2, minor: 0),
                headers: pending.headers)
        }
        return (pending.result, pending.retryable)
    }

    private func writeHeaders(_ request: LoadRequest, streamID id: UInt32) {
        var block: [UInt8] = []
        encoder.beginBlock(into: &block)
        encoder.append(name: ":method", value: request.method.rawValue, into: &block)
        encoder.append(name: ":scheme", value: target.url.isTLS ? "https" : "http", into: &block)
        encoder.append(name: ":path", value: target.url.basePath + request.path, into: &block)
        encoder.append(name: ":authority", value: target.url.hostHeader, into: &block)
        for field in target.extraHeaders { encoder.append(name: field.name, value: field.value, into: &block) }
        for field in request.headers { encoder.append(name: field.name, value: field.value, into: &block) }
        if !request.body.isEmpty || request.method == .POST || request.method == .PUT || request.method == .PATCH {
            encoder.append(name: "content-length", value: String(request.body.count), into: &block)
        }
        HTTP2FrameEncoder.headers(
            streamID: id, block: block[...], endStream: request.body.isEmpty, maxFrameSize: peerMaxFrameSize,
            into: &output)
    }

    /// DATA frames as the stream's and the connection's windows allow (RFC 9113 §6.9).
    private func writeBody(_ body: [UInt8], for pending: PendingStream, until deadline: UInt64) async {
        var offset = 0
        while offset < body.count, !pending.done, stream != nil {
            let room = min(connectionSendWindow, pending.sendWindow, peerMaxFrameSize)
            if room <= 0 {
                await flush()
                await waitForEvent(pending, until: deadline)
                if monotonicNanoseconds() >= deadline { return }
                continue
            }
            let count = min(room, body.count - offset)
            HTTP2FrameEncoder.data(
                streamID: pending.id, bytes: body[offset..<offset + count], endStream: offset + count == body.count,
                into: &output)
            connectionSendWindow -= count
            pending.sendWindow -= count
            offset += count
        }
    }

    private func waitForResponse(_ pending: PendingStream, until deadline: UInt64) async {
        while !pending.done, stream != nil, monotonicNanoseconds() < deadline {
            await waitForEvent(pending, until: deadline)
        }
        if !pending.done, stream == nil {
            // The connection ended under the stream (its error is in `result` when known).
            pending.done = true
            if pending.result.error == nil { pending.result = .failed(.reset) }
        }
    }

    /// Reads for every stream when nobody else is (until `deadline`), else sleeps until this
    /// stream's response is complete, a window opened, or the socket is handed over.
    private func waitForEvent(_ pending: PendingStream, until deadline: UInt64) async {
        guard reading else {
            reading = true
            await readOnce(until: deadline)
            reading = false
            // Still this stream's turn unless its exchange is over.
            if pending.done || monotonicNanoseconds() >= deadline { handOverReading(from: pending) }
            return
        }
        await withCheckedContinuation { pending.waiter = $0 }
    }

    /// The socket goes to another waiting stream, which reads next.
    private func handOverReading(from pending: PendingStream) {
        for other in streams.values where other !== pending && other.waiter != nil {
            other.wake()
            return
        }
    }

    // MARK: Connection

    /// Connects when there is no connection: one connect at a time, others wait for it.
    /// Returns why it failed, nil when connected.
    private func connectIfNeeded() async -> LoadErrorKind? {
        if stream != nil { return nil }
        if connecting {
            await withCheckedContinuation { connectWaiters.append($0) }
            return stream == nil ? (lastConnectError ?? .connect) : nil
        }
        connecting = true
        defer {
            connecting = false
            let waiters = connectWaiters
            connectWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        let made: any ByteStream
        do {
            made = try await target.transport(target.url, loop, target.timeout)
        } catch {
            lastConnectError = HTTP1Connection.classify(error, connecting: true)
            return lastConnectError
        }
        if target.url.isTLS, (made as? TLSStream)?.negotiatedALPN != ALPN.h2 {
            made.close()
            lastConnectError = .protocol
            return .protocol
        }
        resetConnectionState()
        stream = made
        output.append(contentsOf: HTTP2Wire.clientPreface)
        HTTP2FrameEncoder.settings(Self.settings, into: &output)
        HTTP2FrameEncoder.windowUpdate(streamID: 0, increment: UInt32(Self.receiveWindow - 65_535), into: &output)
        await flush()
        return nil
    }

    private func resetConnectionState() {
        nextStreamID = 1
        encoder = HPACKEncoder()
        decoder = HPACKDecoder(maxTableSize: 4096, maxHeaderListSize: 1 << 20)
        headerBlock = nil
        peerMaxConcurrentStreams = 100
        peerInitialWindow = 65_535
        peerMaxFrameSize = 16_384
        connectionSendWindow = 65_535
        unacknowledged = 0
        goingAway = false
        start = 0
        end = 0
        output = []
    }

    /// Waits while the connection has as many streams as the server allows, or is going away.
    private func waitForSlot(until deadline: UInt64) async {
        while streams.count >= peerMaxConcurrentStreams || goingAway, monotonicNanoseconds() < deadline {
            await withCheckedContinuation { slotWaiters.append($0) }
        }
    }

    /// A stream left `streams`: a waiting request may start, and a connection going away
    /// closes with its last stream.
    private func streamEnded() {
        if goingAway && streams.isEmpty {
            stream?.close()
            stream = nil
            goingAway = false
        }
        if !slotWaiters.isEmpty { slotWaiters.removeFirst().resume() }
    }

    /// The connection failed or was closed: every stream ends with `kind`, waiters go on.
    private func fail(all kind: LoadErrorKind) {
        stream = nil
        for pending in streams.values where !pending.done {
            pending.done = true
            pending.result = .failed(kind)
            pending.wake()
        }
        streams = [:]
        let waiters = slotWaiters
        slotWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Writing

    /// Sends what collected in `output`: at the end of the loop's round when the transport
    /// takes it, else now. One writer at a time: frames added while it writes go with its
    /// next write, so a caller that finds a writer at work does not wait.
    private func flush() async {
        guard !writing, !output.isEmpty, let stream else { return }
        if stream.sendAtEndOfRound(&output) { return }
        writing = true
        defer { writing = false }
        while !output.isEmpty, self.stream === stream {
            let bytes = output
            output = []
            stream.writeDeadline = monotonicNanoseconds() &+ target.timeout.nanoseconds
            do {
                try await stream.write(bytes[...])
            } catch {
                if self.stream === stream { fail(all: HTTP1Connection.classify(error, connecting: false)) }
                stream.close()
                return
            }
        }
    }

    // MARK: Reading

    /// One read of the socket and the frames it completes.
    private func readOnce(until deadline: UInt64) async {
        guard let stream else { return }
        if end == buffer.count {
            // Move the undecoded tail to the front (our own non-empty allocation: the base exists).
            buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start)
            end -= start
            start = 0
        }
        stream.readDeadline = deadline
        let count: Int
        do {
            count = try await stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        } catch {
            let kind = HTTP1Connection.classify(error, connecting: false)
            // Our own deadline passed: the connection is fine, the caller cancels its stream.
            if kind == .timeout, self.stream === stream { return }
            if self.stream === stream { fail(all: kind) }
            stream.close()
            return
        }
        guard self.stream === stream else { return }
        if count == 0 {
            fail(all: .reset)
            stream.close()
            return
        }
        end += count
        while start < end {
            let result = frameDecoder.decode(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
            switch result {
            case .needMore:
                if start == end {
                    start = 0
                    end = 0
                }
                await flush()
                return
            case .frame(let frame, let consumed):
                start += consumed
                handle(frame)
                guard self.stream === stream else { return }
            case .invalid:
                fail(all: .protocol)
                stream.close()
                return
            }
        }
        start = 0
        end = 0
        await flush()
    }

    private func handle(_ frame: HTTP2Frame) {
        if let block = headerBlock {
            guard case .continuation(let fragment, let endHeaders) = frame.payload, frame.streamID == block.streamID else {
                fail(all: .protocol)
                return
            }
            headerBlock?.fragment += fragment
            if endHeaders, let block = headerBlock {
                headerBlock = nil
                fieldBlockEnded(streamID: block.streamID, block.fragment, endStream: block.endStream)
            }
            return
        }
        switch frame.payload {
        case .headers(let fragment, let endStream, let endHeaders):
            if endHeaders {
                fieldBlockEnded(streamID: frame.streamID, fragment, endStream: endStream)
            } else {
                headerBlock = (frame.streamID, fragment, endStream)
            }
        case .data(let bytes, let endStream, let flowControlledLength):
            returnWindow(flowControlledLength, streamID: frame.streamID, endStream: endStream)
            guard let pending = streams[frame.streamID] else { return }
            pending.result.bytes += bytes.count
            if pending.collect { pending.result.body += bytes }
            if endStream { complete(pending) }
        case .rstStream(let code):
            guard let pending = streams[frame.streamID] else { return }
            pending.retryable = code == .refusedStream
            pending.result = .failed(.reset)
            complete(pending)
        case .settings(let ack, let settings):
            guard !ack else { return }
            apply(settings)
            HTTP2FrameEncoder.settingsAck(into: &output)
        case .ping(let ack, let opaque):
            if !ack { HTTP2FrameEncoder.ping(ack: true, opaque: opaque, into: &output) }
        case .goAway(let lastStreamID, _, _):
            goingAway = true
            // Streams above the last one were not processed: they may go again elsewhere.
            for pending in streams.values where pending.id > lastStreamID {
                pending.retryable = true
                pending.result = .failed(.reset)
                complete(pending)
            }
            if streams.isEmpty { streamEnded() }
        case .windowUpdate(let increment):
            if frame.streamID == 0 {
                connectionSendWindow += Int(increment)
                for pending in streams.values { pending.wake() }
            } else if let pending = streams[frame.streamID] {
                pending.sendWindow += Int(increment)
                pending.wake()
            }
        case .continuation, .pushPromise:
            fail(all: .protocol)
        case .priority, .unknown:
            break
        }
    }

    /// A response's (or trailers') field block is complete: decode it even for a stream we
    /// gave up on, so that the HPACK table stays in step with the server's.
    private func fieldBlockEnded(streamID id: UInt32, _ block: [UInt8], endStream: Bool) {
        let fields: [HPACKHeaderField]
        do {
            fields = try block.withUnsafeBytes { try decoder.decode($0) }
        } catch {
            fail(all: .protocol)
            return
        }
        guard let pending = streams[id] else { return }
        if pending.result.status == 0 {
            for field in fields {
                if field.name.elementsEqual(":status".utf8) {
                    pending.result.status = Int(String(decoding: field.value, as: UTF8.self)) ?? 0
                } else if field.name.elementsEqual("x-cache".utf8) {
                    pending.result.cache = CacheOutcome(headerValue: String(decoding: field.value, as: UTF8.self))
                }
                if pending.collect, field.name.first != UInt8(ascii: ":") {
                    pending.headers.add(
                        name: String(decoding: field.name, as: UTF8.self), value: String(decoding: field.value, as: UTF8.self))
                }
            }
            // An interim (1xx) response: the final one follows.
            if (100..<200).contains(pending.result.status) {
                pending.result.status = 0
                pending.headers = HTTPHeaders()
            }
        }
        if endStream { complete(pending) }
    }

    private func complete(_ pending: PendingStream) {
        guard !pending.done else { return }
        pending.done = true
        if pending.result.error == nil && pending.result.status == 0 { pending.result = .failed(.protocol) }
        streams[pending.id] = nil
        pending.wake()
        streamEnded()
    }

    /// Opens the windows again as response bytes arrive: the connection's once half of what
    /// it announced is used, a stream's never (it announced the same 16 MiB, more than any
    /// response here).
    private func returnWindow(_ count: Int, streamID: UInt32, endStream: Bool) {
        unacknowledged += count
        if unacknowledged >= Self.receiveWindow / 2 {
            HTTP2FrameEncoder.windowUpdate(streamID: 0, increment: UInt32(unacknowledged), into: &output)
            unacknowledged = 0
        }
    }

    private func apply(_ settings: [HTTP2Setting]) {
        for setting in settings {
            switch setting.identifier {
            case .maxConcurrentStreams:
                peerMaxConcurrentStreams = Int(setting.value)
            case .initialWindowSize:
                let change = Int(setting.value) - peerInitialWindow
                peerInitialWindow = Int(setting.value)
                for pending in streams.values { pending.sendWindow += change }
            case .maxFrameSize:
                peerMaxFrameSize = Int(setting.value)
            case .headerTableSize:
                encoder.peerMaxTableSizeChanged(to: Int(setting.value))
            default:
                break
            }
        }
        // More streams may now be allowed.
        while streams.count < peerMaxConcurrentStreams, !slotWaiters.isEmpty { slotWaiters.removeFirst().resume() }
    }
}
