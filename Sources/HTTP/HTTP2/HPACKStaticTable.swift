/// A field as HPACK carries it: name and value bytes, the name lower-case in HTTP/2.
public struct HPACKHeaderField: Hashable, Sendable {
    public var name: [UInt8]
    public var value: [UInt8]

    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.name = Array(name.utf8)
        self.value = Array(value.utf8)
    }

    /// The size RFC 7541 §4.1 charges for the field in a dynamic table, and RFC 9113 §6.5.2
    /// in a header list: name and value bytes plus 32.
    public var size: Int { name.count + value.count + 32 }
}

/// The static table of RFC 7541 Appendix A: index 1...61.
enum HPACKStaticTable {
    static let entries: [HPACKHeaderField] = [
        HPACKHeaderField(":authority", ""),
        HPACKHeaderField(":method", "GET"),
        HPACKHeaderField(":method", "POST"),
        HPACKHeaderField(":path", "/"),
        HPACKHeaderField(":path", "/index.html"),
        HPACKHeaderField(":scheme", "http"),
        HPACKHeaderField(":scheme", "https"),
        HPACKHeaderField(":status", "200"),
        HPACKHeaderField(":status", "204"),
        HPACKHeaderField(":status", "206"),
        HPACKHeaderField(":status", "304"),
        HPACKHeaderField(":status", "400"),
        HPACKHeaderField(":status", "404"),
        HPACKHeaderField(":status", "500"),
        HPACKHeaderField("accept-charset", ""),
        HPACKHeaderField("accept-encoding", "gzip, deflate"),
        HPACKHeaderField("accept-language", ""),
        HPACKHeaderField("accept-ranges", ""),
        HPACKHeaderField("accept", ""),
        HPACKHeaderField("access-control-allow-origin", ""),
        HPACKHeaderField("age", ""),
        HPACKHeaderField("allow", ""),
        HPACKHeaderField("authorization", ""),
        HPACKHeaderField("cache-control", ""),
        HPACKHeaderField("content-disposition", ""),
        HPACKHeaderField("content-encoding", ""),
        HPACKHeaderField("content-language", ""),
        HPACKHeaderField("content-length", ""),
        HPACKHeaderField("content-location", ""),
        HPACKHeaderField("content-range", ""),
        HPACKHeaderField("content-type", ""),
        HPACKHeaderField("cookie", ""),
        HPACKHeaderField("date", ""),
        HPACKHeaderField("etag", ""),
        HPACKHeaderField("expect", ""),
        HPACKHeaderField("expires", ""),
        HPACKHeaderField("from", ""),
        HPACKHeaderField("host", ""),
        HPACKHeaderField("if-match", ""),
        HPACKHeaderField("if-modified-since", ""),
        HPACKHeaderField("if-none-match", ""),
        HPACKHeaderField("if-range", ""),
        HPACKHeaderField("if-unmodified-since", ""),
        HPACKHeaderField("last-modified", ""),
        HPACKHeaderField("link", ""),
        HPACKHeaderField("location", ""),
        HPACKHeaderField("max-forwards", ""),
        HPACKHeaderField("proxy-authenticate", ""),
        HPACKHeaderField("proxy-authorization", ""),
        HPACKHeaderField("range", ""),
        HPACKHeaderField("referer", ""),
        HPACKHeaderField("refresh", ""),
        HPACKHeaderField("retry-after", ""),
        HPACKHeaderField("server", ""),
        HPACKHeaderField("set-cookie", ""),
        HPACKHeaderField("strict-transport-security", ""),
        HPACKHeaderField("transfer-encoding", ""),
        HPACKHeaderField("user-agent", ""),
        HPACKHeaderField("vary", ""),
        HPACKHeaderField("via", ""),
        HPACKHeaderField("www-authenticate", ""),
    ]

    /// The lowest index whose name and value are both `name` and `value`, and otherwise the
    /// lowest whose name is `name`.
    static func find(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> (index: Int, fullMatch: Bool)? {
        var nameIndex: Int?
        // Lengths first: most entries differ in length, and a length costs no byte comparison.
        for (offset, entry) in entries.enumerated()
        where entry.name.count == name.count && entry.name.elementsEqual(name) {
            if entry.value.count == value.count && entry.value.elementsEqual(value) { return (offset + 1, true) }
            if nameIndex == nil { nameIndex = offset + 1 }
        }
        return nameIndex.map { ($0, false) }
    }
}
