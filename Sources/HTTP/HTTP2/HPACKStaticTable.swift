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
        // Only the entries in the name's bucket are compared (most names that are not in the
        // table find an empty bucket, most that are find their own entries alone), as bytes
        // of one flat copy of the table (no array per entry to retain): this runs for every
        // field of every response head. The ranges come from the table itself, so they are
        // in bounds.
        let lookup = Self.lookup
        let bucket = Lookup.bucket(of: name)
        let bytes = UnsafeRawBufferPointer(lookup.bytes)
        var nameIndex: Int?
        for slot in lookup.starts[bucket]..<lookup.starts[bucket + 1] {
            let offset = lookup.offsets[slot]
            guard HPACKPrimitives.equal(UnsafeRawBufferPointer(rebasing: bytes[lookup.names[offset]]), name) else { continue }
            if HPACKPrimitives.equal(UnsafeRawBufferPointer(rebasing: bytes[lookup.values[offset]]), value) {
                return (offset + 1, true)
            }
            if nameIndex == nil { nameIndex = offset + 1 }
        }
        return nameIndex.map { ($0, false) }
    }

    /// The table for ``find(name:value:)``: every name and value in one byte array, and the
    /// entries' offsets grouped by the bucket of their names, each group in table order
    /// (`offsets[starts[b]..<starts[b + 1]]` are those whose names fall in bucket `b`).
    /// Kept in memory allocated once and never freed, so that a look-up retains nothing.
    struct Lookup: @unchecked Sendable {  // immutable, and its memory lives as long as the process
        let bytes: UnsafeBufferPointer<UInt8>
        let names: UnsafeBufferPointer<Range<Int>>
        let values: UnsafeBufferPointer<Range<Int>>
        let offsets: UnsafeBufferPointer<Int>
        let starts: UnsafeBufferPointer<Int>

        static let bucketCount = 128

        /// A name's bucket, from its length and its first and last bytes: the table's 52
        /// distinct names fall in 45 buckets, at most two names to a bucket (the seven
        /// `:status` entries share a name, so a bucket), and names common in responses
        /// that are not in the table (`x-request-id`, `x-cache`...) mostly find theirs empty.
        @inline(__always)
        static func bucket(of name: UnsafeRawBufferPointer) -> Int {
            let first = Int(name.first ?? 0)
            let last = Int(name.last ?? 0)
            return (name.count &* 28 &+ first &* 29 &+ last) & (bucketCount - 1)
        }

        init(_ entries: [HPACKHeaderField]) {
            var bytes: [UInt8] = []
            var names: [Range<Int>] = []
            var values: [Range<Int>] = []
            for entry in entries {
                names.append(bytes.count..<(bytes.count + entry.name.count))
                bytes.append(contentsOf: entry.name)
                values.append(bytes.count..<(bytes.count + entry.value.count))
                bytes.append(contentsOf: entry.value)
            }
            let buckets = entries.map { entry in entry.name.withUnsafeBytes { Self.bucket(of: $0) } }
            var starts = [Int](repeating: 0, count: Self.bucketCount + 1)
            for bucket in buckets { starts[bucket + 1] += 1 }
            for bucket in 1..<starts.count { starts[bucket] += starts[bucket - 1] }
            var next = starts
            var offsets = [Int](repeating: 0, count: entries.count)
            for (offset, bucket) in buckets.enumerated() {
                offsets[next[bucket]] = offset
                next[bucket] += 1
            }
            self.bytes = Self.immortal(bytes)
            self.names = Self.immortal(names)
            self.values = Self.immortal(values)
            self.offsets = Self.immortal(offsets)
            self.starts = Self.immortal(starts)
        }

    /// A copy of `array` in memory that is never freed (the table is built once).
        private static func immortal<T>(_ array: [T]) -> UnsafeBufferPointer<T> {
            let memory = UnsafeMutableBufferPointer<T>.allocate(capacity: array.count)
            _ = memory.initialize(from: array)
            return UnsafeBufferPointer(memory)
        }
    }

    static let lookup = Lookup(entries)
}
