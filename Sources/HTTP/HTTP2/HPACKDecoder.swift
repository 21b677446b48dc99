/// Decodes field blocks (RFC 7541 §6), keeping the dynamic table in step with the peer's
/// encoder across the blocks of one connection.
///
/// Two limits refuse HPACK bombs: dynamic table size updates above the
/// SETTINGS_HEADER_TABLE_SIZE this endpoint announced, and a decoded header list above
/// `maxHeaderListSize` (counted as RFC 9113 §6.5.2 does). A block over the list limit is
/// still read to its end, without keeping its fields, so the table stays in step and the
/// connection can answer that one request with an error.
public struct HPACKDecoder: Sendable {
    private var table: HPACKDynamicTable
    /// The SETTINGS_HEADER_TABLE_SIZE this endpoint announced: the most a size update may ask for.
    public let maxTableSize: Int
    public let maxHeaderListSize: Int

    public init(maxTableSize: Int = 4096, maxHeaderListSize: Int = 32_768) {
        self.table = HPACKDynamicTable(maxSize: maxTableSize)
        self.maxTableSize = maxTableSize
        self.maxHeaderListSize = maxHeaderListSize
    }

    /// The dynamic table's current size in bytes (RFC 7541 §4.1), for tests.
    public var dynamicTableSize: Int { table.size }
    /// The number of entries in the dynamic table, for tests.
    public var dynamicTableCount: Int { table.count }

    /// The fields of one complete field block.
    /// - Throws: ``HPACKError``; after ``HPACKError/Code/headerListTooLarge`` the decoder is
    ///   still usable, after any other error the connection must end (COMPRESSION_ERROR).
    public mutating func decode(_ block: UnsafeRawBufferPointer) throws(HPACKError) -> [HPACKHeaderField] {
        var fields: [HPACKHeaderField] = []
        // Every field takes at least one byte of the block: room for a usual head at once,
        // rather than growing the array field by field.
        fields.reserveCapacity(min(block.count, 16))
        var listSize = 0
        var index = 0
        var sawField = false
        while index < block.count {
            let first = block[index]
            let field: HPACKHeaderField
            if first & 0x80 != 0 {
                // Indexed field (§6.1).
                let position = try HPACKPrimitives.readInteger(block, at: &index, prefixBits: 7)
                field = try entry(at: position)
            } else if first & 0x40 != 0 {
                // Literal with incremental indexing (§6.2.1).
                field = try literal(block, at: &index, prefixBits: 6)
                table.insert(field)
            } else if first & 0x20 != 0 {
                // Dynamic table size update (§6.3): only before the block's first field.
                guard !sawField else { throw HPACKError(.tableSizeUpdateMisplaced) }
                let size = try HPACKPrimitives.readInteger(block, at: &index, prefixBits: 5)
                guard size <= maxTableSize else { throw HPACKError(.tableSizeUpdateTooLarge) }
                table.resize(to: size)
                continue
            } else {
                // Literal without indexing (§6.2.2) or never indexed (§6.2.3).
                field = try literal(block, at: &index, prefixBits: 4)
            }
            sawField = true
            listSize += field.size
            if listSize <= maxHeaderListSize { fields.append(field) }
        }
        if listSize > maxHeaderListSize { throw HPACKError(.headerListTooLarge) }
        return fields
    }

    public mutating func decode(_ block: [UInt8]) throws(HPACKError) -> [HPACKHeaderField] {
        // Typed throws do not pass through `withUnsafeBytes`: carry the result out.
        let result: Result<[HPACKHeaderField], HPACKError> = block.withUnsafeBytes { bytes in
            do throws(HPACKError) { return .success(try decode(bytes)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func entry(at position: Int) throws(HPACKError) -> HPACKHeaderField {
        let staticCount = HPACKStaticTable.entries.count
        if position >= 1 && position <= staticCount { return HPACKStaticTable.entries[position - 1] }
        guard position > staticCount, let field = table.entry(at: position - staticCount) else {
            throw HPACKError(.invalidIndex)
        }
        return field
    }

    private func literal(
        _ block: UnsafeRawBufferPointer, at index: inout Int, prefixBits: Int
    ) throws(HPACKError) -> HPACKHeaderField {
        let nameIndex = try HPACKPrimitives.readInteger(block, at: &index, prefixBits: prefixBits)
        let name = nameIndex == 0 ? try HPACKPrimitives.readString(block, at: &index) : try entry(at: nameIndex).name
        let value = try HPACKPrimitives.readString(block, at: &index)
        return HPACKHeaderField(name: name, value: value)
    }
}
