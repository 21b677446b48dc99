/// Application-Layer Protocol Negotiation (RFC 7301) in its wire format: a list of
/// protocol names, each preceded by its length in one byte.
///
/// Pure functions, so that the server's choice can be tested without a handshake.
public enum ALPN {
    /// HTTP/1.1, which every Marquee server speaks.
    public static let http11 = "http/1.1"
    /// HTTP/2 over TLS (RFC 9113 §3.2), which the gateway speaks when it offers it.
    public static let h2 = "h2"

    /// `names` in wire format, for `SSL_set_alpn_protos`. Names must be 1...255 bytes.
    public static func wireFormat(_ names: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for name in names {
            let utf8 = Array(name.utf8)
            precondition(!utf8.isEmpty && utf8.count <= 255, "ALPN names are 1...255 bytes")
            bytes.append(UInt8(utf8.count))
            bytes.append(contentsOf: utf8)
        }
        return bytes
    }

    /// Where `wanted` sits in a client's offer (the name's bytes, without its length
    /// byte), or nil when the client does not offer it or the list is malformed.
    ///
    /// A malformed list (a length running past the end, an empty name) yields nil rather
    /// than a partial match: the offer comes from the network.
    public static func find(_ wanted: String, in offer: UnsafeRawBufferPointer) -> Range<Int>? {
        let target = Array(wanted.utf8)
        var index = 0
        var found: Range<Int>?
        while index < offer.count {
            let length = Int(offer[index])
            let start = index + 1
            let end = start + length
            if length == 0 || end > offer.count { return nil }
            if found == nil, length == target.count, offer[start..<end].elementsEqual(target) {
                found = start..<end
            }
            index = end
        }
        return found
    }
}
