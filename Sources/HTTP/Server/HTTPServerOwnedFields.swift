/// The fields every response gets from the server alone, over HTTP/1.1 and HTTP/2 alike:
/// framing (`Content-Length`, `Transfer-Encoding`), `Connection`, `Date` and `Server`. A
/// handler's copies (a proxied upstream's `Date` and `Server`, say) are left out when the head
/// is written, never doubled.
enum HTTPServerOwnedFields {
    /// Whether `name` (any case) is one of them.
    static func contains(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 4: return HTTPASCII.equalsIgnoringCase(name, lowercase: "date")
        case 6: return HTTPASCII.equalsIgnoringCase(name, lowercase: "server")
        case 10: return HTTPASCII.equalsIgnoringCase(name, lowercase: "connection")
        case 14: return HTTPASCII.equalsIgnoringCase(name, lowercase: "content-length")
        case 17: return HTTPASCII.equalsIgnoringCase(name, lowercase: "transfer-encoding")
        default: return false
        }
    }
}
