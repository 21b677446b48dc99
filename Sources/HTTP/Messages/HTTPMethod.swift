/// An HTTP request method: one of the registered ones or any other valid token.
///
/// A struct rather than an enum so that extension methods (`PROPFIND`, `PURGE`) pass through
/// the gateway unchanged; the router decides what it serves.
public struct HTTPMethod: Hashable, Sendable, RawRepresentable, CustomStringConvertible {
    /// The method's name, case-sensitive as RFC 9110 §9.1 says.
    public let rawValue: String

    /// A method from its name, or `nil` when the name is not a non-empty token.
    public init?(rawValue: String) {
        guard !rawValue.isEmpty, rawValue.utf8.allSatisfy(HTTPByteClass.isToken) else { return nil }
        self.rawValue = rawValue
    }

    /// A method whose name the caller has already validated (the parser, the statics).
    @usableFromInline
    init(validated rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    public static let GET = HTTPMethod(validated: "GET")
    public static let HEAD = HTTPMethod(validated: "HEAD")
    public static let POST = HTTPMethod(validated: "POST")
    public static let PUT = HTTPMethod(validated: "PUT")
    public static let PATCH = HTTPMethod(validated: "PATCH")
    public static let DELETE = HTTPMethod(validated: "DELETE")
    public static let OPTIONS = HTTPMethod(validated: "OPTIONS")
    public static let TRACE = HTTPMethod(validated: "TRACE")
    public static let CONNECT = HTTPMethod(validated: "CONNECT")

    /// Whether repeating the request has the same effect as sending it once (RFC 9110 §9.2.2);
    /// the HTTP client retries only these on a connection that the server closed under it.
    public var isIdempotent: Bool {
        switch rawValue {
        case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE": return true
        default: return false
        }
    }

    /// Whether the method is safe (read-only, RFC 9110 §9.2.1).
    public var isSafe: Bool {
        switch rawValue {
        case "GET", "HEAD", "OPTIONS", "TRACE": return true
        default: return false
        }
    }
}
