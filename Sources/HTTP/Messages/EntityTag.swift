/// Conditional requests on entity tags (RFC 9110 §13.1.2), shared by the movie service's
/// reads and the gateway's own files.
public enum EntityTag {
    /// Whether an `If-None-Match` value names `etag`: a comma-separated list compared with
    /// the weak comparison (`W/` prefixes ignored), or `*`.
    public static func matches(ifNoneMatch header: String, etag: String) -> Bool {
        for piece in header.split(separator: ",") {
            var tag = piece.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
            while let last = tag.last, last == " " || last == "\t" { tag = tag.dropLast() }
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
            if tag == etag { return true }
        }
        return false
    }
}
