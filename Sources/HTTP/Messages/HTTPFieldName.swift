/// A header field name written in our code (`Content-Length`, `X-Request-ID`, …), checked
/// once, when it is made.
///
/// Why: a field added or looked up by a `String` name has that name bridged to bytes,
/// checked to be a token and hashed for ``HTTPHeaders``' name filter on every call, and
/// the gateway adds five fields and looks up about ten per proxied request. A name made
/// here keeps its bytes in a literal's static storage with its filter bit computed, so
/// adding a field under it checks only the value.
public struct HTTPFieldName: Sendable, Equatable, CustomStringConvertible {
    /// The name as it goes on the wire (case kept). A string literal, so its bytes live as
    /// long as the process.
    public let text: StaticString
    /// ``HTTPHeaders/nameBit(_:)`` of the name.
    let filterBit: UInt64

    /// - Precondition: `text` is a string literal of token bytes (RFC 9110 §5.1), 1 to
    ///   65535 of them. A bad name is a bug in our code, caught the first time it is used.
    public init(_ text: StaticString) {
        precondition(text.hasPointerRepresentation, "HTTPFieldName: a name is a string literal, not a scalar")
        self.text = text
        let bytes = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        precondition(
            !bytes.isEmpty && bytes.count <= Int(UInt16.max) && bytes.allSatisfy(HTTPByteClass.isToken),
            "HTTPFieldName: '\(text)' is not a token")
        filterBit = HTTPHeaders.nameBit(bytes)
    }

    /// The name's bytes. Safe for the process's life: `init` accepted only a literal with
    /// a pointer representation, whose storage is immortal.
    @inline(__always)
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
    }

    public var description: String { text.description }

    /// Names equal ignoring ASCII case, as field names compare (RFC 9110 §5.1).
    public static func == (lhs: HTTPFieldName, rhs: HTTPFieldName) -> Bool {
        HTTPASCII.equalsIgnoringCase(lhs.bytes, rhs.bytes)
    }
}

extension HTTPFieldName {
    public static let authorization = HTTPFieldName("Authorization")
    public static let connection = HTTPFieldName("Connection")
    public static let contentLength = HTTPFieldName("Content-Length")
    public static let contentType = HTTPFieldName("Content-Type")
    public static let expect = HTTPFieldName("Expect")
    public static let host = HTTPFieldName("Host")
    public static let location = HTTPFieldName("Location")
    public static let strictTransportSecurity = HTTPFieldName("Strict-Transport-Security")
    /// W3C Trace Context: the caller's trace and span (`00-<trace-id>-<parent-id>-<flags>`).
    public static let traceparent = HTTPFieldName("traceparent")
    /// W3C Trace Context: vendors' trace state, forwarded with a valid `traceparent` only.
    public static let tracestate = HTTPFieldName("tracestate")
    public static let transferEncoding = HTTPFieldName("Transfer-Encoding")
    public static let xForwardedFor = HTTPFieldName("X-Forwarded-For")
    public static let xForwardedHost = HTTPFieldName("X-Forwarded-Host")
    public static let xForwardedProto = HTTPFieldName("X-Forwarded-Proto")
    public static let xRequestID = HTTPFieldName("X-Request-ID")
    public static let xUserID = HTTPFieldName("X-User-ID")
}

/// Several field names as one filter: whether a head may hold any of them is answered from
/// ``HTTPHeaders``' names filter, without walking its lines. A proxy asks it before editing
/// a head field by field: most requests hold none of the fields it removes.
public struct HTTPFieldNameSet: Sendable {
    let mask: UInt64

    public init(_ names: [HTTPFieldName]) {
        mask = names.reduce(0) { $0 | $1.filterBit }
    }
}
