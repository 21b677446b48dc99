/// The server side of one HTTP/2 connection (RFC 9113) as a pure state machine: bytes and
/// timer ticks in; actions for the I/O shell and bytes to send out. No sockets, no clock of
/// its own (`now` is the caller's monotonic nanoseconds), so every rule is tested without I/O.
///
/// It owns the connection preface, SETTINGS and their acknowledgement, HPACK in both
/// directions, the streams and their states (§5.1), flow control for the connection and each
/// stream, PING, GOAWAY and graceful drain, RST_STREAM, and the limits that refuse the known
/// attacks (see ``HTTP2ServerConfiguration``). Priority signals are read and ignored (§5.3.2).
public struct HTTP2ServerConnectionStateMachine: Sendable {
    enum Phase: Sendable {
        /// Reading the client's 24-byte preface.
        case awaitingPreface
        /// The preface is in; the first frame must be SETTINGS.
        case awaitingSettings
        case active
        /// After a connection error: GOAWAY is in the output, input is ignored.
        case closed
    }

    struct Stream: Sendable {
        /// Whether the client's side is done (END_STREAM received): half-closed (remote).
        var remoteClosed: Bool
        /// Whether our side is done (END_STREAM sent or queued as sent): half-closed (local).
        var localClosed = false
        var responseStarted = false
        var sendWindow: Int
        var receiveWindow: Int
        /// Received body bytes not yet returned to the client's window.
        var unacknowledgedBytes = 0
        var expectedLength: Int?
        var receivedLength = 0
        /// Response body queued behind flow control, from `pendingOffset` on.
        var pending: [UInt8] = []
        var pendingOffset = 0
        /// END_STREAM goes with the last queued byte (or trailers do).
        var pendingEnd = false
        var pendingTrailers: [UInt8]?
        /// When queued data first found no window, for the stall deadline.
        var stalledSince: UInt64?

        var pendingCount: Int { pending.count - pendingOffset }
    }

    /// A field block in progress: HEADERS without END_HEADERS and its CONTINUATION frames.
    struct HeaderBlock: Sendable {
        var streamID: UInt32
        var fragment: [UInt8]
        var endStream: Bool
        var continuations = 0
    }

    public let configuration: HTTP2ServerConfiguration
    /// Words the answers the machine gives by itself (431, an unsupported method or scheme).
    let errorRenderer: any HTTPErrorRenderer
    var phase = Phase.awaitingPreface
    var streams = HTTP2StreamTable<Stream>()
    /// Streams with queued response data, in the order they queued it.
    var sendQueue: [UInt32] = []
    /// The highest stream the client opened (streams at or below it are not idle).
    public internal(set) var lastPeerStreamID: UInt32 = 0
    /// Streams we reset recently: frames the client sent before it saw our RST_STREAM are
    /// ignored (§5.1, closed), not treated as errors. Bounded: oldest forgotten first.
    var locallyReset: [UInt32] = []
    var headerBlock: HeaderBlock?
    var decoder: HPACKDecoder
    var encoder = HPACKEncoder()
    var frameDecoder: HTTP2FrameDecoder
    var peerSettings = HTTP2SettingsValues()
    var connectionSendWindow = 65_535
    var connectionReceiveWindow = 65_535
    var connectionUnacknowledged = 0
    /// When our SETTINGS went out unacknowledged.
    var settingsSentAt: UInt64?
    /// GOAWAY sent for a graceful drain: streams above `lastPeerStreamID` then are refused.
    public internal(set) var goAwaySent = false
    public internal(set) var goAwayReceived = false
    var resetCounter: FloodCounter
    var controlFrameCounter: FloodCounter
    var actions: [HTTP2ServerAction] = []
    /// Bytes to send, in order; the shell takes them with ``takeOutput()``.
    public internal(set) var output: [UInt8] = []

    public init(
        configuration: HTTP2ServerConfiguration = HTTP2ServerConfiguration(),
        errorRenderer: any HTTPErrorRenderer = PlainTextErrorRenderer()
    ) {
        self.configuration = configuration
        self.errorRenderer = errorRenderer
        self.decoder = HPACKDecoder(
            maxTableSize: configuration.headerTableSize, maxHeaderListSize: configuration.maxHeaderListSize)
        self.frameDecoder = HTTP2FrameDecoder(maxFrameSize: configuration.maxFrameSize)
        self.resetCounter = FloodCounter(limit: configuration.maxResetsPerWindow, window: configuration.floodWindowNanoseconds)
        self.controlFrameCounter = FloodCounter(
            limit: configuration.maxControlFramesPerWindow, window: configuration.floodWindowNanoseconds)
    }

    /// Streams being served (open or half-closed).
    public var activeStreamCount: Int { streams.count }
    /// Whether the connection has ended (connection error, or drained after GOAWAY).
    public var isClosed: Bool { if case .closed = phase { true } else { false } }

    /// The server's connection preface: SETTINGS, and a WINDOW_UPDATE that opens the
    /// connection's receive window beyond the RFC's 65,535 bytes. Call once, first.
    public mutating func start(now: UInt64) {
        HTTP2FrameEncoder.settings(configuration.announcedSettings, into: &output)
        let increment = configuration.connectionWindowSize - connectionReceiveWindow
        if increment > 0 {
            HTTP2FrameEncoder.windowUpdate(streamID: 0, increment: UInt32(increment), into: &output)
            connectionReceiveWindow += increment
        }
        settingsSentAt = now
    }

    /// Hands the bytes to send to the caller.
    public mutating func takeOutput() -> [UInt8] {
        defer { output = [] }
        return output
    }

    /// Reads what the client sent: the preface, then whole frames. Returns how many bytes
    /// were used (the rest, an incomplete frame, is offered again with more) and the actions.
    public mutating func received(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> (consumed: Int, actions: [HTTP2ServerAction]) {
        var consumed = 0
        loop: while consumed < bytes.count {
            // Safe: consumed < bytes.count.
            let rest = UnsafeRawBufferPointer(rebasing: bytes[consumed...])
            switch phase {
            case .closed:
                consumed = bytes.count
            case .awaitingPreface:
                let preface = HTTP2Wire.clientPreface
                let available = min(rest.count, preface.count)
                guard rest.prefix(available).elementsEqual(preface.prefix(available)) else {
                    connectionError(.connection(.protocolError, "invalid connection preface"))
                    continue loop
                }
                guard available == preface.count else { break loop }
                consumed += preface.count
                phase = .awaitingSettings
            case .awaitingSettings, .active:
                switch frameDecoder.decode(rest) {
                case .needMore:
                    break loop
                case .frame(let frame, let length):
                    consumed += length
                    if case .awaitingSettings = phase {
                        guard case .settings(ack: false, _) = frame.payload else {
                            connectionError(.connection(.protocolError, "first frame is not SETTINGS"))
                            continue loop
                        }
                        phase = .active
                    }
                    handle(frame, now: now)
                case .invalid(let error, let length):
                    consumed += length
                    fail(error, now: now)
                }
            }
        }
        return (consumed, takeActions())
    }

    mutating func takeActions() -> [HTTP2ServerAction] {
        defer { actions = [] }
        return actions
    }

    // MARK: Errors

    /// A stream error resets its stream; a connection error ends the connection.
    mutating func fail(_ error: HTTP2ProtocolError, now: UInt64) {
        switch error.scope {
        case .connection:
            connectionError(error)
        case .stream(let id):
            resetStream(id, code: error.code)
            noteReset(now: now)
        }
    }

    /// GOAWAY with the error, then close (RFC 9113 §5.4.1).
    mutating func connectionError(_ error: HTTP2ProtocolError) {
        guard !isClosed else { return }
        HTTP2FrameEncoder.goAway(
            lastStreamID: lastPeerStreamID, code: error.code, debugData: Array(error.reason.utf8), into: &output)
        phase = .closed
        for id in streams.sortedKeys { actions.append(.streamReset(streamID: id, error.code)) }
        streams.removeAll()
        sendQueue = []
        actions.append(.closeConnection)
    }

    /// RST_STREAM for `id`; the stream, if active, ends and its handler is told.
    mutating func resetStream(_ id: UInt32, code: HTTP2ErrorCode) {
        HTTP2FrameEncoder.rstStream(streamID: id, code: code, into: &output)
        rememberLocallyReset(id)
        if streams.removeValue(forKey: id) != nil {
            actions.append(.streamReset(streamID: id, code))
            closeIfDrained()
        }
    }

    mutating func rememberLocallyReset(_ id: UInt32) {
        if locallyReset.count >= 128 { locallyReset.removeFirst(32) }
        locallyReset.append(id)
    }

    /// Counts a reset toward the rapid-reset budget (CVE-2023-44487).
    mutating func noteReset(now: UInt64) {
        if !resetCounter.record(now: now) {
            connectionError(.connection(.enhanceYourCalm, "too many stream resets"))
        }
    }

    /// Counts a SETTINGS, PING or empty DATA frame toward the flood budget.
    mutating func noteControlFrame(now: UInt64) {
        if !controlFrameCounter.record(now: now) {
            connectionError(.connection(.enhanceYourCalm, "too many control frames"))
        }
    }

    // MARK: Drain and timers

    /// Begins a graceful shutdown: GOAWAY(NO_ERROR) naming the last stream that will be
    /// served; the connection closes once those streams are done.
    public mutating func beginGracefulShutdown() -> [HTTP2ServerAction] {
        guard !isClosed, !goAwaySent else { return takeActions() }
        goAwaySent = true
        HTTP2FrameEncoder.goAway(lastStreamID: lastPeerStreamID, code: .noError, into: &output)
        closeIfDrained()
        return takeActions()
    }

    mutating func closeIfDrained() {
        guard goAwaySent, streams.isEmpty, headerBlock == nil, !isClosed else { return }
        phase = .closed
        actions.append(.closeConnection)
    }

    /// The next time ``timerFired(now:)`` has something to check, if any.
    public var nextDeadline: UInt64? {
        guard !isClosed else { return nil }
        var deadline = settingsSentAt.map { $0 &+ configuration.settingsAckTimeoutNanoseconds }
        // Only a stream with queued data can be stalled, and every such stream is in the send
        // queue (empty while the windows keep up): no walk over every stream.
        for id in sendQueue {
            if let since = streams[id]?.stalledSince {
                let stallDeadline = since &+ configuration.sendStallTimeoutNanoseconds
                deadline = min(deadline ?? stallDeadline, stallDeadline)
            }
        }
        return deadline
    }

    /// Enforces the deadlines: an unacknowledged SETTINGS ends the connection
    /// (SETTINGS_TIMEOUT); response data stuck behind a closed window resets its stream, or
    /// ends the connection when the connection's own window is the one closed (a zero-window
    /// stall holds the stream's resources for as long as the client likes).
    public mutating func timerFired(now: UInt64) -> [HTTP2ServerAction] {
        guard !isClosed else { return takeActions() }
        if let sent = settingsSentAt, now &- sent >= configuration.settingsAckTimeoutNanoseconds {
            connectionError(.connection(.settingsTimeout, "SETTINGS not acknowledged"))
            return takeActions()
        }
        for id in streams.sortedKeys {
            guard let since = streams[id]?.stalledSince,
                now &- since >= configuration.sendStallTimeoutNanoseconds
            else { continue }
            if connectionSendWindow <= 0 {
                connectionError(.connection(.enhanceYourCalm, "connection flow-control window stayed closed"))
                return takeActions()
            }
            resetStream(id, code: .cancel)
        }
        return takeActions()
    }
}

/// Counts events in fixed windows of time and says when a window holds more than `limit`.
struct FloodCounter: Sendable {
    let limit: Int
    let window: UInt64
    private var windowStart: UInt64?
    private var count = 0

    init(limit: Int, window: UInt64) {
        self.limit = limit
        self.window = window
    }

    /// Records one event at `now`; false when the current window is over the limit.
    mutating func record(now: UInt64) -> Bool {
        if let start = windowStart, now &- start < window {
            count += 1
        } else {
            windowStart = now
            count = 1
        }
        return count <= limit
    }
}
