/// The error codes of RFC 9113 §7, carried by RST_STREAM and GOAWAY.
///
/// A struct over the wire value rather than an enum: a peer may send codes this table does
/// not know, and RFC 9113 §7 says they must not trigger special behaviour (they read as
/// `INTERNAL_ERROR` at most).
public struct HTTP2ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let noError = HTTP2ErrorCode(rawValue: 0x0)
    public static let protocolError = HTTP2ErrorCode(rawValue: 0x1)
    public static let internalError = HTTP2ErrorCode(rawValue: 0x2)
    public static let flowControlError = HTTP2ErrorCode(rawValue: 0x3)
    public static let settingsTimeout = HTTP2ErrorCode(rawValue: 0x4)
    public static let streamClosed = HTTP2ErrorCode(rawValue: 0x5)
    public static let frameSizeError = HTTP2ErrorCode(rawValue: 0x6)
    public static let refusedStream = HTTP2ErrorCode(rawValue: 0x7)
    public static let cancel = HTTP2ErrorCode(rawValue: 0x8)
    public static let compressionError = HTTP2ErrorCode(rawValue: 0x9)
    public static let connectError = HTTP2ErrorCode(rawValue: 0xa)
    public static let enhanceYourCalm = HTTP2ErrorCode(rawValue: 0xb)
    public static let inadequateSecurity = HTTP2ErrorCode(rawValue: 0xc)
    public static let http11Required = HTTP2ErrorCode(rawValue: 0xd)

    public var description: String {
        switch rawValue {
        case 0x0: "NO_ERROR"
        case 0x1: "PROTOCOL_ERROR"
        case 0x2: "INTERNAL_ERROR"
        case 0x3: "FLOW_CONTROL_ERROR"
        case 0x4: "SETTINGS_TIMEOUT"
        case 0x5: "STREAM_CLOSED"
        case 0x6: "FRAME_SIZE_ERROR"
        case 0x7: "REFUSED_STREAM"
        case 0x8: "CANCEL"
        case 0x9: "COMPRESSION_ERROR"
        case 0xa: "CONNECT_ERROR"
        case 0xb: "ENHANCE_YOUR_CALM"
        case 0xc: "INADEQUATE_SECURITY"
        case 0xd: "HTTP_1_1_REQUIRED"
        default: "0x\(String(rawValue, radix: 16))"
        }
    }
}

/// A violation of RFC 9113 by the peer: what to send and how far it reaches.
///
/// A connection error (RFC 9113 §5.4.1) ends the connection with GOAWAY; a stream error
/// (§5.4.2) resets one stream with RST_STREAM and the connection goes on.
public struct HTTP2ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Scope: Hashable, Sendable {
        case connection
        case stream(UInt32)
    }

    public let code: HTTP2ErrorCode
    public let scope: Scope
    /// What was wrong, for logs and GOAWAY's debug data (never the peer's bytes).
    public let reason: String

    public init(_ code: HTTP2ErrorCode, scope: Scope = .connection, _ reason: String) {
        self.code = code
        self.scope = scope
        self.reason = reason
    }

    public static func connection(_ code: HTTP2ErrorCode, _ reason: String) -> HTTP2ProtocolError {
        HTTP2ProtocolError(code, scope: .connection, reason)
    }

    public static func stream(_ id: UInt32, _ code: HTTP2ErrorCode, _ reason: String) -> HTTP2ProtocolError {
        HTTP2ProtocolError(code, scope: .stream(id), reason)
    }

    public var description: String {
        switch scope {
        case .connection: "connection error \(code): \(reason)"
        case .stream(let id): "stream \(id) error \(code): \(reason)"
        }
    }
}
