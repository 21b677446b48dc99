/// The Huffman code of RFC 7541 §5.2 and Appendix B: encoding, its length, and strict decoding.
enum HPACKHuffman {
    /// The decoding tree: node `n` has children `tree[2n]` (bit 0) and `tree[2n + 1]` (bit 1);
    /// a child value `>= 0` is another node, `-1 - symbol` a leaf (symbol 256 is EOS).
    /// Built once from the code table, so the tree and the table cannot disagree.
    private static let tree: [Int16] = {
        var tree = [Int16](repeating: 0, count: 2)
        var nodes = 1
        for symbol in 0..<257 {
            let code = HPACKHuffmanTable.codes[symbol]
            let length = Int(HPACKHuffmanTable.lengths[symbol])
            var node = 0
            for bitIndex in stride(from: length - 1, through: 0, by: -1) {
                let slot = 2 * node + Int((code >> UInt32(bitIndex)) & 1)
                if bitIndex == 0 {
                    tree[slot] = Int16(-1 - symbol)
                } else {
                    if tree[slot] == 0 {
                        tree[slot] = Int16(nodes)
                        tree.append(contentsOf: [0, 0])
                        nodes += 1
                    }
                    node = Int(tree[slot])
                }
            }
        }
        return tree
    }()

    /// Each symbol's code and length in one word (`code << 8 | length`), in memory allocated
    /// once and never freed, so that encoding reads it without a retain or a bounds check per
    /// byte (every byte value is below its 257 entries). Written only by its initializer, so
    /// sharing it between threads is safe.
    nonisolated(unsafe) private static let packed: UnsafeBufferPointer<UInt64> = {
        let table = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: HPACKHuffmanTable.codes.count)
        for symbol in table.indices {
            table[symbol] = UInt64(HPACKHuffmanTable.codes[symbol]) << 8 | UInt64(HPACKHuffmanTable.lengths[symbol])
        }
        return UnsafeBufferPointer(table)
    }()

    /// Bytes `input` takes Huffman-coded.
    static func encodedLength(_ input: UnsafeRawBufferPointer) -> Int {
        let packed = Self.packed
        var bits = 0
        for byte in input { bits &+= Int(truncatingIfNeeded: packed[Int(byte)] & 0xff) }
        return (bits + 7) / 8
    }

    /// Appends `input` Huffman-coded, padded with the most significant bits of EOS (ones).
    /// - Parameter encodedLength: ``encodedLength(_:)`` of `input`, when the caller has it.
    static func encode(_ input: UnsafeRawBufferPointer, encodedLength: Int? = nil, into out: inout [UInt8]) {
        let count = encodedLength ?? Self.encodedLength(input)
        let packed = Self.packed
        // Written four bytes at a time into scratch space (on the stack for a field's few
        // dozen bytes), then appended in one copy.
        withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { buffer in
            var position = 0
            // Fewer than 32 bits wait between symbols, plus one code of at most 30: the
            // accumulator's low 62 bits hold everything not written yet.
            var accumulator: UInt64 = 0
            var pending = 0
            for byte in input {
                let entry = packed[Int(byte)]
                let length = Int(truncatingIfNeeded: entry & 0xff)
                accumulator = accumulator << UInt64(length) | entry >> 8
                pending &+= length
                if pending >= 32 {
                    pending &-= 32
                    precondition(position + 4 <= count, "Huffman code longer than its encodedLength")
                    // Safe: position + 4 <= count, the buffer's size (checked just above).
                    buffer.storeBytes(
                        of: UInt32(truncatingIfNeeded: accumulator >> UInt64(pending)).bigEndian, toByteOffset: position,
                        as: UInt32.self)
                    position &+= 4
                }
            }
            // The last bits, padded to a whole byte with ones (EOS's first bits).
            let padding = (8 - pending % 8) % 8
            accumulator = accumulator << UInt64(padding) | (1 << UInt64(padding) - 1)
            pending += padding
            precondition(position + pending / 8 == count, "Huffman code not as long as its encodedLength")
            while pending > 0 {
                pending -= 8
                // Safe: position < count (checked just above).
                buffer[position] = UInt8(truncatingIfNeeded: accumulator >> UInt64(pending))
                position += 1
            }
            // Safe: the first `count` bytes of the scratch space were written.
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Decodes `input`, appending to `out`.
    /// - Throws: ``HPACKError/Code/invalidHuffman`` for EOS in the string, or padding that is
    ///   longer than 7 bits or not all ones (RFC 7541 §5.2).
    static func decode(_ input: UnsafeRawBufferPointer, into out: inout [UInt8]) throws(HPACKError) {
        let tree = Self.tree
        var node = 0
        var bitsSinceSymbol = 0
        var onesSinceSymbol = true
        for byte in input {
            for shift in stride(from: 7, through: 0, by: -1) {
                let bit = Int((byte >> UInt8(shift)) & 1)
                let next = tree[2 * node + bit]
                bitsSinceSymbol += 1
                if bit == 0 { onesSinceSymbol = false }
                if next < 0 {
                    let symbol = Int(-1 - next)
                    if symbol == 256 { throw HPACKError(.invalidHuffman) }
                    out.append(UInt8(truncatingIfNeeded: symbol))
                    node = 0
                    bitsSinceSymbol = 0
                    onesSinceSymbol = true
                } else {
                    node = Int(next)
                }
            }
        }
        if bitsSinceSymbol > 7 || !onesSinceSymbol { throw HPACKError(.invalidHuffman) }
    }
}
