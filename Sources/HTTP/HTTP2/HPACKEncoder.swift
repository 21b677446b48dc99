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
    private var nameScratch: [UInt8] = []

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
    }

    /// Appends one field of the block begun with ``beginBlock(into:)``.
    /// - Parameter indexing: false for a value that changes with every block (a date, a
    ///   request id): it is sent as a literal without indexing (RFC 7541 §6.2.2), so that it
    ///   neither churns the dynamic table, evicting fields that do repeat, nor costs a look-up.
    public mutating func append(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, indexing: Bool = true, into out: inout [UInt8]
    ) {
        if !name.contains(where: { $0 >= 0x41 && $0 <= 0x5a }) {
            // Lower-case already (our own names, most of HTTP/2's): used as it is.
            if indexing {
                appendLowercased(name: name, value: value, into: &out)
            } else {
                appendUnindexed(name: name, value: value, into: &out)
            }
            return
        }
        nameScratch.removeAll(keepingCapacity: true)
        nameScratch.append(contentsOf: name)
        nameScratch.withUnsafeMutableBufferPointer { bytes in
            for index in bytes.indices where bytes[index] >= 0x41 && bytes[index] <= 0x5a { bytes[index] |= 0x20 }
        }
        let lowerName = nameScratch
        lowerName.withUnsafeBytes { name in
            if indexing {
                appendLowercased(name: name, value: value, into: &out)
            } else {
                appendUnindexed(name: name, value: value, into: &out)
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

    private mutating func appendLowercased(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, into out: inout [UInt8]
    ) {
        let staticMatch = HPACKStaticTable.find(name: name, value: value)
        if let staticMatch, staticMatch.fullMatch {
            HPACKPrimitives.appendInteger(staticMatch.index, prefixBits: 7, flags: 0x80, into: &out)
            return
        }
        let dynamicMatch = table.find(name: name, value: value)
        let staticCount = HPACKStaticTable.entries.count
        if let dynamicMatch, dynamicMatch.fullMatch {
            HPACKPrimitives.appendInteger(staticCount + dynamicMatch.index, prefixBits: 7, flags: 0x80, into: &out)
            return
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
        if !sensitive { table.insert(HPACKHeaderField(name: Array(name), value: Array(value))) }
    }

    /// A literal without indexing, its name from the static table when it is there.
    private mutating func appendUnindexed(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, into out: inout [UInt8]
    ) {
        let nameIndex = HPACKStaticTable.find(name: name, value: value)?.index ?? 0
        HPACKPrimitives.appendInteger(nameIndex, prefixBits: 4, flags: Self.isSensitive(name) ? 0x10 : 0, into: &out)
        if nameIndex == 0 { HPACKPrimitives.appendString(name, huffman: huffmanCoding, into: &out) }
        HPACKPrimitives.appendString(value, huffman: huffmanCoding, into: &out)
    }

    /// Fields whose values are secrets or per-user: kept out of any compression context.
    /// (`name` is lower-case already; its length picks the one name to compare.)
    private static func isSensitive(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 6: name.elementsEqual("cookie".utf8)
        case 10: name.elementsEqual("set-cookie".utf8)
        case 13: name.elementsEqual("authorization".utf8)
        case 19: name.elementsEqual("proxy-authorization".utf8)
        default: false
        }
    }
}
