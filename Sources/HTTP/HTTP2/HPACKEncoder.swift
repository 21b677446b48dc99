/// Encodes field blocks (RFC 7541 §6) for one connection, with a dynamic table mirroring
/// the peer decoder's.
///
/// Fields found whole in a table are one index; others are literals with incremental
/// indexing, so that a connection's repeated response fields shrink to an index each,
/// except credentials and cookies, which are never indexed (RFC 7541 §7.1.3). Names are
/// lower-cased on the way, as HTTP/2 requires (RFC 9113 §8.2.1).
public struct HPACKEncoder: Sendable {
    private var table: HPACKDynamicTable
    /// The smallest and the latest table size the peer allowed since the last block, still
    /// to be announced with size updates at the start of the next (RFC 7541 §4.2).
    private var pendingSizeUpdate: (smallest: Int, latest: Int)?
    /// The table size this encoder uses at most, whatever the peer allows.
    public let preferredMaxTableSize: Int
    /// Whether string literals are Huffman-coded when that makes them shorter.
    public var huffmanCoding = true
    /// Fields lately written as an index, as they were given (the name's case included).
    private var recentHits = HPACKRecentHits()
    /// Encodings of the last few literals of unindexed fields.
    private var literalCache = HPACKLiteralCache()

    public init(preferredMaxTableSize: Int = 4096) {
        self.preferredMaxTableSize = preferredMaxTableSize
        self.table = HPACKDynamicTable(maxSize: min(4096, preferredMaxTableSize))
        if preferredMaxTableSize < 4096 {
            pendingSizeUpdate = (preferredMaxTableSize, preferredMaxTableSize)
        }
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: this encoder's table follows it (up to
    /// ``preferredMaxTableSize``) and announces the change in the next block.
    public mutating func peerMaxTableSizeChanged(to peerSize: Int) {
        let size = min(peerSize, preferredMaxTableSize)
        guard size != table.maxSize || pendingSizeUpdate != nil else { return }
        let smallest = min(pendingSizeUpdate?.smallest ?? size, size)
        pendingSizeUpdate = (smallest, size)
        table.resize(to: smallest)
        recentHits.forget()
    }

    /// Starts a block: writes any pending dynamic table size updates.
    public mutating func beginBlock(into out: inout [UInt8]) {
        guard let update = pendingSizeUpdate else { return }
        pendingSizeUpdate = nil
        if update.smallest != update.latest {
            HPACKPrimitives.appendInteger(update.smallest, prefixBits: 5, flags: 0x20, into: &out)
        }
        HPACKPrimitives.appendInteger(update.latest, prefixBits: 5, flags: 0x20, into: &out)
        table.resize(to: update.latest)
        recentHits.forget()
    }

    /// Appends one field of the block begun with ``beginBlock(into:)``.
    /// - Parameter indexing: false for a value that changes with every block (a date, a
    ///   request id): it is sent as a literal without indexing (RFC 7541 §6.2.2), so that it
    ///   neither churns the dynamic table, evicting fields that do repeat, nor costs a look-up.
    public mutating func append(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, indexing: Bool = true, into out: inout [UInt8]
    ) {
        if indexing, let index = recentHits.index(name: name, value: value) {
            HPACKPrimitives.appendInteger(index, prefixBits: 7, flags: 0x80, into: &out)
            return
        }
        if !name.contains(where: { $0 >= 0x41 && $0 <= 0x5a }) {
            // Lower-case already (our own names, most of HTTP/2's): used as it is.
            if indexing {
                if let index = appendLowercased(name: name, value: value, into: &out) {
                    recentHits.remember(name: name, value: value, index: index)
                }
            } else {
                appendUnindexed(name: name, value: value, into: &out)
            }
            return
        }
        // Lower-cased into scratch space (on the stack for a usual name).
        withUnsafeTemporaryAllocation(byteCount: name.count, alignment: 1) { lower in
            for index in 0..<name.count {
                let byte = name[index]
                lower[index] = byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte
            }
            // Safe: every byte of `lower` was written just above.
            let lowerName = UnsafeRawBufferPointer(lower)
            if indexing {
                if let index = appendLowercased(name: lowerName, value: value, into: &out) {
                    recentHits.remember(name: name, value: value, index: index)
                }
            } else {
                appendUnindexed(name: lowerName, value: value, into: &out)
            }
        }
    }

    public mutating func append(name: String, value: String, into out: inout [UInt8]) {
        var name = name
        var value = value
        name.withUTF8 { name in
            value.withUTF8 { value in
                append(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value), into: &out)
            }
        }
    }

    /// Appends the field as an index when a table holds it whole (returning that index),
    /// else as a literal.
    private mutating func appendLowercased(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, into out: inout [UInt8]
    ) -> Int? {
        let staticMatch = HPACKStaticTable.find(name: name, value: value)
        if let staticMatch, staticMatch.fullMatch {
            HPACKPrimitives.appendInteger(staticMatch.index, prefixBits: 7, flags: 0x80, into: &out)
            return staticMatch.index
        }
        let dynamicMatch = table.find(name: name, value: value)
        let staticCount = HPACKStaticTable.entries.count
        if let dynamicMatch, dynamicMatch.fullMatch {
            HPACKPrimitives.appendInteger(staticCount + dynamicMatch.index, prefixBits: 7, flags: 0x80, into: &out)
            return staticCount + dynamicMatch.index
        }
        let nameIndex = staticMatch?.index ?? dynamicMatch.map { staticCount + $0.index } ?? 0
        let sensitive = Self.isSensitive(name)
        if sensitive {
            HPACKPrimitives.appendInteger(nameIndex, prefixBits: 4, flags: 0x10, into: &out)
        } else {
            HPACKPrimitives.appendInteger(nameIndex, prefixBits: 6, flags: 0x40, into: &out)
        }
        if nameIndex == 0 { HPACKPrimitives.appendString(name, huffman: huffmanCoding, into: &out) }
        HPACKPrimitives.appendString(value, huffman: huffmanCoding, into: &out)
        if !sensitive {
            table.insert(HPACKHeaderField(name: Array(name), value: Array(value)))
            // Every dynamic index has moved.
            recentHits.forget()
        }
        return nil
    }

    /// A literal without indexing, its name from the static table when it is there.
    private mutating func appendUnindexed(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, into out: inout [UInt8]
    ) {
        let nameIndex = HPACKStaticTable.find(name: name, value: value)?.index ?? 0
        HPACKPrimitives.appendInteger(nameIndex, prefixBits: 4, flags: Self.isSensitive(name) ? 0x10 : 0, into: &out)
        if nameIndex == 0 { appendRepeatedString(name, into: &out) }
        appendRepeatedString(value, into: &out)
    }

    /// A string literal of an unindexed field, whose encoding may be one of the last few:
    /// names not in the static table (`x-request-id`) repeat in every response, and so does
    /// a date for a second; their Huffman coding is then copied rather than computed again.
    private mutating func appendRepeatedString(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        guard huffmanCoding, bytes.count >= HPACKLiteralCache.minLength, bytes.count <= HPACKLiteralCache.maxLength
        else {
            HPACKPrimitives.appendString(bytes, huffman: huffmanCoding, into: &out)
            return
        }
        if literalCache.appendEncoding(of: bytes, to: &out) { return }
        let start = out.count
        HPACKPrimitives.appendString(bytes, huffman: true, into: &out)
        out.withUnsafeBytes { literalCache.remember(bytes, encoding: UnsafeRawBufferPointer(rebasing: $0[start...])) }
    }

    /// Fields whose values are secrets or per-user: kept out of any compression context.
    /// (`name` is lower-case already; its length picks the one name to compare.)
    private static func isSensitive(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 6: HPACKPrimitives.equal(name, "cookie")
        case 10: HPACKPrimitives.equal(name, "set-cookie")
        case 13: HPACKPrimitives.equal(name, "authorization")
        case 19: HPACKPrimitives.equal(name, "proxy-authorization")
        default: false
        }
    }
}

/// The last few fields an encoder wrote as an index, with that index: a field a connection's
/// responses repeat (a content type, a server name) is then found with one comparison of its
/// bytes as given, without lower-casing its name or searching either table. Valid only while
/// the dynamic table stays as it is (its indexes move with every insertion or eviction):
/// the encoder forgets them whenever it changes. Small and bounded: a handful of short fields.
struct HPACKRecentHits: Sendable {
    private struct Hit: Sendable {
        let start: Int
        let nameCount: Int
        let valueCount: Int
        let index: Int
    }

    /// Names and values of the hits, back to back.
    private var bytes: [UInt8] = []
    private var hits: [Hit] = []

    static let maxHits = 8
    /// Longer fields are not kept (their look-up is not what costs).
    static let maxFieldBytes = 96

    /// The index `name: value` was written as, if it is a recent hit.
    func index(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int? {
        guard !hits.isEmpty else { return nil }
        return bytes.withUnsafeBytes { bytes in
            for hit in hits where hit.nameCount == name.count && hit.valueCount == value.count {
                // Safe: every hit's bytes were appended to `bytes` with it, and stay until forget().
                let start = hit.start
                if HPACKPrimitives.equal(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + name.count)]), name),
                    HPACKPrimitives.equal(
                        UnsafeRawBufferPointer(rebasing: bytes[(start + name.count)..<(start + name.count + value.count)]),
                        value)
                {
                    return hit.index
                }
            }
            return nil
        }
    }

    mutating func remember(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, index: Int) {
        guard name.count + value.count <= Self.maxFieldBytes else { return }
        if hits.count == Self.maxHits { forget() }
        hits.append(Hit(start: bytes.count, nameCount: name.count, valueCount: value.count, index: index))
        bytes.append(contentsOf: name)
        bytes.append(contentsOf: value)
    }

    mutating func forget() {
        guard !hits.isEmpty else { return }
        hits.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
    }
}

/// The encodings (length prefix and Huffman code) of the last few string literals an
/// encoder wrote for unindexed fields, least recently used replaced first. Independent of
/// the dynamic table: a literal's encoding depends on its bytes alone. Small and bounded.
struct HPACKLiteralCache: Sendable {
    private struct Entry: Sendable {
        var literal: [UInt8] = []
        var encoding: [UInt8] = []
        var lastUse = 0
    }

    /// Shorter literals cost little to encode; longer ones are seldom repeated.
    static let minLength = 8
    static let maxLength = 64
    static let capacity = 4

    private var entries: [Entry] = []
    private var uses = 0

    /// Appends the cached encoding of `literal` to `out`; false when it is not cached.
    mutating func appendEncoding(of literal: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        for position in entries.indices where entries[position].literal.count == literal.count {
            let matches = entries[position].literal.withUnsafeBytes { HPACKPrimitives.equal($0, literal) }
            guard matches else { continue }
            uses += 1
            entries[position].lastUse = uses
            out.append(contentsOf: entries[position].encoding)
            return true
        }
        return false
    }

    mutating func remember(_ literal: UnsafeRawBufferPointer, encoding: UnsafeRawBufferPointer) {
        uses += 1
        var position = entries.count
        if entries.count < Self.capacity {
            entries.append(Entry())
        } else {
            position = entries.indices.min { entries[$0].lastUse < entries[$1].lastUse } ?? 0
        }
        // The entry's buffers are refilled in place (no allocation once they are big enough).
        entries[position].literal.removeAll(keepingCapacity: true)
        entries[position].literal.append(contentsOf: literal)
        entries[position].encoding.removeAll(keepingCapacity: true)
        entries[position].encoding.append(contentsOf: encoding)
        entries[position].lastUse = uses
    }
}
