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

    /// Bytes `input` takes Huffman-coded.
    static func encodedLength(_ input: UnsafeRawBufferPointer) -> Int {
        var bits = 0
        for byte in input { bits += Int(HPACKHuffmanTable.lengths[Int(byte)]) }
        return (bits + 7) / 8
    }

    /// Appends `input` Huffman-coded, padded with the most significant bits of EOS (ones).
    /// - Parameter encodedLength: ``encodedLength(_:)`` of `input`, when the caller has it.
    static func encode(_ input: UnsafeRawBufferPointer, encodedLength: Int? = nil, into out: inout [UInt8]) {
        let count = encodedLength ?? Self.encodedLength(input)
        let start = out.count
        // The room first, then the bytes written in place: no capacity check per byte.
        out.append(contentsOf: repeatElement(0, count: count))
        out.withUnsafeMutableBufferPointer { buffer in
            var position = start
            var accumulator: UInt64 = 0
            var pending = 0
            for byte in input {
                let length = Int(HPACKHuffmanTable.lengths[Int(byte)])
                accumulator = accumulator << UInt64(length) | UInt64(HPACKHuffmanTable.codes[Int(byte)])
                pending += length
                while pending >= 8 {
                    pending -= 8
                    precondition(position < buffer.count, "Huffman code longer than its encodedLength")
                    buffer[position] = UInt8(truncatingIfNeeded: accumulator >> UInt64(pending))
                    position += 1
                }
            }
            if pending > 0 {
                let padding = 8 - pending
                precondition(position < buffer.count, "Huffman code longer than its encodedLength")
                buffer[position] = UInt8(truncatingIfNeeded: accumulator << UInt64(padding) | (1 << UInt64(padding) - 1))
                position += 1
            }
            precondition(position == buffer.count, "Huffman code shorter than its encodedLength")
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
