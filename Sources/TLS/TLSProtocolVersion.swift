import COpenSSL

/// A TLS protocol version that Marquee speaks: 1.2 and 1.3 only (1.0 and 1.1 are refused,
/// as Mozilla's "intermediate" profile says).
public struct TLSProtocolVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// OpenSSL's wire value (`TLS1_2_VERSION`, `TLS1_3_VERSION`).
    public let rawValue: Int32

    private init(rawValue: Int32) { self.rawValue = rawValue }

    public static let tls12 = TLSProtocolVersion(rawValue: TLS1_2_VERSION)
    public static let tls13 = TLSProtocolVersion(rawValue: TLS1_3_VERSION)

    /// The version for an OpenSSL value, or nil for one we never negotiate.
    public init?(openSSLVersion: Int32) {
        switch openSSLVersion {
        case TLS1_2_VERSION: self = .tls12
        case TLS1_3_VERSION: self = .tls13
        default: return nil
        }
    }

    public static func < (lhs: TLSProtocolVersion, rhs: TLSProtocolVersion) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { self == .tls13 ? "TLSv1.3" : "TLSv1.2" }
}
