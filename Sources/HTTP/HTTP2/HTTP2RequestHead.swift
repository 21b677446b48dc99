/// A request's field block as RFC 9113 §8.3 allows it: pseudo-header fields checked and
/// taken apart, the regular fields kept in order.
public struct HTTP2RequestHead: Hashable, Sendable {
    public var method: String
    public var scheme: String
    /// `:authority`, or the `Host` field when the request has no `:authority`.
    public var authority: String?
    /// `:path`: origin-form, or `*` for OPTIONS.
    public var path: String
    /// The regular fields in order, names lower-case.
    public var fields: [HPACKHeaderField]
    /// The `content-length` the request announced, which its DATA must add up to (§8.1.1).
    public var contentLength: Int?
}

/// Why a field block is not a request this server serves.
public enum HTTP2RequestHeadError: Error, Hashable, Sendable {
    /// Malformed (RFC 9113 §8.1.1): a stream error of type PROTOCOL_ERROR.
    case malformed(String)
    /// Well-formed but not served here: answered with this error.
    case unsupported(HTTPServerError)
}

extension HTTP2RequestHead {
    /// Checks a request's fields as RFC 9113 §8.2 and §8.3 require: names lower-case tokens;
    /// values without NUL, CR, LF or surrounding whitespace; pseudo-header fields first, each
    /// once, only the request ones; `:method`, `:scheme` and a non-empty `:path` present;
    /// no connection-specific fields (`connection`, `keep-alive`, `proxy-connection`,
    /// `transfer-encoding`, `upgrade`, and `te` other than `trailers`); a `host` that names
    /// the same authority as `:authority`; one `content-length` value.
    public init(validating fields: [HPACKHeaderField]) throws(HTTP2RequestHeadError) {
        var method: String?
        var scheme: String?
        var authority: String?
        var path: String?
        var host: String?
        var contentLength: Int?
        var regular: [HPACKHeaderField] = []
        regular.reserveCapacity(fields.count)
        var seenRegular = false
        for field in fields {
            try Self.checkValue(field.value)
            if field.name.first == UInt8(ascii: ":") {
                guard !seenRegular else { throw .malformed("pseudo-header field after a regular field") }
                // Names compared as bytes; a `String` is made only of the four values kept.
                switch PseudoHeader(field.name) {
                case .method:
                    guard method == nil else { throw .malformed("duplicate :method") }
                    guard !field.value.isEmpty, field.value.allSatisfy(HTTPByteClass.isToken) else {
                        throw .malformed("invalid :method")
                    }
                    method = String(decoding: field.value, as: UTF8.self)
                case .scheme:
                    guard scheme == nil else { throw .malformed("duplicate :scheme") }
                    scheme = String(decoding: field.value, as: UTF8.self)
                case .authority:
                    guard authority == nil else { throw .malformed("duplicate :authority") }
                    authority = String(decoding: field.value, as: UTF8.self)
                case .path:
                    guard path == nil else { throw .malformed("duplicate :path") }
                    guard !field.value.isEmpty else { throw .malformed("empty :path") }
                    guard field.value.allSatisfy(HTTPByteClass.isTargetByte) else { throw .malformed("invalid :path") }
                    path = String(decoding: field.value, as: UTF8.self)
                case nil:
                    throw .malformed("unknown or response pseudo-header field")
                }
                continue
            }
            seenRegular = true
            try Self.checkRegular(field)
            if HPACKPrimitives.equal(field.name, "host") {
                guard host == nil else { throw .malformed("duplicate host") }
                host = String(decoding: field.value, as: UTF8.self)
            } else if HPACKPrimitives.equal(field.name, "content-length") {
                guard let length = Self.contentLength(field.value) else { throw .malformed("invalid content-length") }
                guard contentLength == nil || contentLength == length else {
                    throw .malformed("conflicting content-length")
                }
                if contentLength != nil { continue }
                contentLength = length
            }
            regular.append(field)
        }
        guard let method else { throw .malformed("missing :method") }
        if method == "CONNECT" { throw .unsupported(HTTPServerError(.methodNotImplemented(method))) }
        guard let scheme, let path else { throw .malformed("missing :scheme or :path") }
        guard scheme == "http" || scheme == "https" else {
            throw .unsupported(HTTPServerError(.unsupportedScheme))
        }
        if path.utf8.first != UInt8(ascii: "/") {
            guard path == "*" && method == "OPTIONS" else { throw .malformed(":path not origin-form") }
        }
        if let authority, let host {
            guard HTTPASCII.equalsIgnoringCase(authority, host) else {
                throw .malformed("host differs from :authority")
            }
        }
        guard let effectiveAuthority = authority ?? host, !effectiveAuthority.isEmpty else {
            throw .malformed("neither :authority nor host")
        }
        self.init(
            method: method, scheme: scheme, authority: effectiveAuthority, path: path, fields: regular,
            contentLength: contentLength)
    }

    /// Checks a trailer section: regular fields only (RFC 9113 §8.1).
    public static func validateTrailers(_ fields: [HPACKHeaderField]) throws(HTTP2RequestHeadError) {
        for field in fields {
            try checkValue(field.value)
            guard field.name.first != UInt8(ascii: ":") else { throw .malformed("pseudo-header field in trailers") }
            try checkRegular(field)
        }
    }

    private static func checkRegular(_ field: HPACKHeaderField) throws(HTTP2RequestHeadError) {
        guard !field.name.isEmpty,
            field.name.allSatisfy({ HTTPByteClass.isToken($0) && !($0 >= 0x41 && $0 <= 0x5a) })
        else { throw .malformed("field name not a lower-case token") }
        switch field.name.count {
        case 2 where HPACKPrimitives.equal(field.name, "te"):
            guard HPACKPrimitives.equal(field.value, "trailers") else { throw .malformed("te other than trailers") }
        case 7 where HPACKPrimitives.equal(field.name, "upgrade"),
            10 where HPACKPrimitives.equal(field.name, "connection") || HPACKPrimitives.equal(field.name, "keep-alive"),
            16 where HPACKPrimitives.equal(field.name, "proxy-connection"),
            17 where HPACKPrimitives.equal(field.name, "transfer-encoding"):
            throw .malformed("connection-specific field")
        default:
            break
        }
    }

    /// RFC 9113 §8.2.1: no NUL, CR or LF, no leading or trailing space or tab; and, as the
    /// HTTP/1.1 parser, no other control characters either (they would go upstream).
    private static func checkValue(_ value: [UInt8]) throws(HTTP2RequestHeadError) {
        guard value.allSatisfy(HTTPByteClass.isFieldValue) else { throw .malformed("control character in a field value") }
        if let first = value.first, let last = value.last {
            guard first != 0x20, first != 0x09, last != 0x20, last != 0x09 else {
                throw .malformed("whitespace around a field value")
            }
        }
    }

    private static func contentLength(_ value: [UInt8]) -> Int? {
        guard !value.isEmpty, value.count <= 18 else { return nil }
        var result = 0
        for byte in value {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            result = result * 10 + Int(byte - 0x30)
        }
        return result
    }
}

/// The request pseudo-header fields (RFC 9113 §8.3.1), told apart by their bytes.
private enum PseudoHeader {
    case method, scheme, authority, path

    init?(_ name: [UInt8]) {
        switch name.count {
        case 5 where HPACKPrimitives.equal(name, ":path"): self = .path
        case 7 where HPACKPrimitives.equal(name, ":method"): self = .method
        case 7 where HPACKPrimitives.equal(name, ":scheme"): self = .scheme
        case 10 where HPACKPrimitives.equal(name, ":authority"): self = .authority
        default: return nil
        }
    }
}
