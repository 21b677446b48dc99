/// Limits of an HTTP/2 server connection; the defaults follow nginx's.
public struct HTTP2ServerConfiguration: Sendable, Hashable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open at once (nginx: 128).
    public var maxConcurrentStreams = 128
    /// SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a stream may send before its window
    /// is opened again (the RFC's initial value; nginx: 65536).
    public var initialStreamWindowSize = 65_535
    /// The connection's receive window, opened with a WINDOW_UPDATE right after the preface.
    public var connectionWindowSize = 1 << 24
    /// SETTINGS_MAX_FRAME_SIZE (nginx: 16384, the RFC's smallest).
    public var maxFrameSize = 16_384
    /// SETTINGS_MAX_HEADER_LIST_SIZE: decoded fields as RFC 9113 §6.5.2 counts them; a
    /// request over it is answered 431.
    public var maxHeaderListSize = 32_768
    /// SETTINGS_HEADER_TABLE_SIZE: the HPACK dynamic table the client may make us keep.
    public var headerTableSize = 4096
    /// Compressed bytes of one field block (HEADERS and its CONTINUATION frames).
    public var maxHeaderBlockSize = 65_536
    /// CONTINUATION frames in one field block (the CONTINUATION flood's mark).
    public var maxContinuationFrames = 32
    /// Streams reset by the client, or by us for its errors, within `floodWindow` before
    /// the connection ends with ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487).
    public var maxResetsPerWindow = 256
    /// SETTINGS and PING frames, and empty DATA frames without END_STREAM, within
    /// `floodWindow` before the connection ends with ENHANCE_YOUR_CALM.
    public var maxControlFramesPerWindow = 256
    public var floodWindowNanoseconds: UInt64 = 1_000_000_000
    /// How long response data may wait on a closed flow-control window: then the stream is
    /// reset (its window) or the connection ends (the connection's window).
    public var sendStallTimeoutNanoseconds: UInt64 = 30_000_000_000
    /// How long the client may take to acknowledge our SETTINGS (RFC 9113 §6.5.3).
    public var settingsAckTimeoutNanoseconds: UInt64 = 10_000_000_000
    /// The request body the server buffers before the handler runs; longer ones are
    /// answered 413 (the I/O shell's limit; nginx's `client_max_body_size` is 1 MiB).
    public var maxRequestBodySize = 1 << 20

    public init() {}

    /// The SETTINGS frame's parameters this configuration announces.
    var announcedSettings: [HTTP2Setting] {
        [
            HTTP2Setting(.maxConcurrentStreams, UInt32(maxConcurrentStreams)),
            HTTP2Setting(.initialWindowSize, UInt32(initialStreamWindowSize)),
            HTTP2Setting(.maxFrameSize, UInt32(maxFrameSize)),
            HTTP2Setting(.maxHeaderListSize, UInt32(maxHeaderListSize)),
            HTTP2Setting(.headerTableSize, UInt32(headerTableSize)),
            HTTP2Setting(.enablePush, 0),
        ]
    }
}

/// What the I/O shell does after the server connection's state machine took an event.
/// Bytes to send are not actions: they collect in the machine's output.
public enum HTTP2ServerAction: Hashable, Sendable {
    /// A new request: serve it. With `endStream` it has no body.
    case request(streamID: UInt32, HTTP2RequestHead, endStream: Bool)
    /// Request body bytes; report them with ``HTTP2ServerConnectionStateMachine/bodyConsumed(streamID:count:)``
    /// once read, which opens the stream's window again.
    case body(streamID: UInt32, [UInt8])
    /// The request body is complete, with its trailer fields (often none).
    case endOfBody(streamID: UInt32, trailers: [HPACKHeaderField])
    /// The stream ended before its exchange did (the client reset it, or we did for an
    /// error): stop serving it.
    case streamReset(streamID: UInt32, HTTP2ErrorCode)
    /// Everything queued for the stream is framed: a writer waiting for room may go on.
    case sendQueueDrained(streamID: UInt32)
    /// Send the output, then close the connection.
    case closeConnection
}
