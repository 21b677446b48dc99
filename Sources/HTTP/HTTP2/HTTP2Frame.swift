/// One HTTP/2 frame (RFC 9113 §4.1, §6), decoded: the stream it belongs to and what it says.
///
/// Padding is removed and flags become fields; byte payloads are copied out of the read
/// buffer, so a frame outlives the bytes it came from.
public struct HTTP2Frame: Hashable, Sendable {
    /// The stream identifier with its reserved bit cleared; 0 for the connection.
    public var streamID: UInt32
    public var payload: Payload

    public init(streamID: UInt32, payload: Payload) {
        self.streamID = streamID
        self.payload = payload
    }

    public enum Payload: Hashable, Sendable {
        /// `flowControlledLength` is the whole frame payload, padding included: what it
        /// costs in the flow-control windows (RFC 9113 §6.1).
        case data(bytes: [UInt8], endStream: Bool, flowControlledLength: Int)
        case headers(fragment: [UInt8], endStream: Bool, endHeaders: Bool)
        /// PRIORITY frames are read and ignored, as RFC 9113 §5.3.2 allows.
        case priority
        case rstStream(HTTP2ErrorCode)
        case settings(ack: Bool, [HTTP2Setting])
        case pushPromise(promisedStreamID: UInt32, fragment: [UInt8], endHeaders: Bool)
        case ping(ack: Bool, opaque: UInt64)
        case goAway(lastStreamID: UInt32, code: HTTP2ErrorCode, debugData: [UInt8])
        case windowUpdate(increment: UInt32)
        case continuation(fragment: [UInt8], endHeaders: Bool)
        /// A frame type this endpoint does not know: ignored (RFC 9113 §4.1, §5.5).
        case unknown(type: UInt8)
    }
}

/// Frame type codes (RFC 9113 §6).
public enum HTTP2FrameType {
    public static let data: UInt8 = 0x0
    public static let headers: UInt8 = 0x1
    public static let priority: UInt8 = 0x2
    public static let rstStream: UInt8 = 0x3
    public static let settings: UInt8 = 0x4
    public static let pushPromise: UInt8 = 0x5
    public static let ping: UInt8 = 0x6
    public static let goAway: UInt8 = 0x7
    public static let windowUpdate: UInt8 = 0x8
    public static let continuation: UInt8 = 0x9
}

/// Frame flags (RFC 9113 §6); each frame type reads only its own.
public enum HTTP2FrameFlags {
    public static let endStream: UInt8 = 0x1
    public static let ack: UInt8 = 0x1
    public static let endHeaders: UInt8 = 0x4
    public static let padded: UInt8 = 0x8
    public static let priority: UInt8 = 0x20
}

/// The fixed parts of the protocol's wire format.
public enum HTTP2Wire {
    /// The client connection preface (RFC 9113 §3.4): `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
    public static let clientPreface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    /// Bytes of a frame header.
    public static let frameHeaderLength = 9
}
