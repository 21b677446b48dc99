#if canImport(Glibc)
import Glibc
#endif

/// HPACK's integer (RFC 7541 §5.1) and string (§5.2) representations.
enum HPACKPrimitives {
    /// The largest integer the decoder accepts: far above any index, size or length a
    /// bounded block can hold, and far below overflow.
    static let maxInteger = (1 << 30) - 1

    /// Appends `value` with an `prefixBits`-bit prefix; `flags` are the first byte's bits
    /// above the prefix.
    static func appendInteger(_ value: Int, prefixBits: Int, flags: UInt8, into out: inout [UInt8]) {
        let limit = (1 << prefixBits) - 1
        if value < limit {
            out.append(flags | UInt8(value))
            return
        }
        out.append(flags | UInt8(limit))
        var rest = value - limit
        while rest >= 128 {
            out.append(UInt8(rest & 0x7f) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    /// Reads an integer with a `prefixBits`-bit prefix at `index`, advancing it.
    static func readInteger(
        _ input: UnsafeRawBufferPointer, at index: inout Int, prefixBits: Int
    ) throws(HPACKError) -> Int {
        guard index < input.count else { throw HPACKError(.truncated) }
        let limit = (1 << prefixBits) - 1
        var value = Int(input[index]) & limit
        index += 1
        if value < limit { return value }
        var shift = 0
        while true {
            guard index < input.count else { throw HPACKError(.truncated) }
            let byte = input[index]
            index += 1
            value += Int(byte & 0x7f) << shift
            guard value <= maxInteger else { throw HPACKError(.integerOverflow) }
            if byte & 0x80 == 0 { return value }
            shift += 7
            // Bytes of zeros after the value add nothing but length: refuse them as too long.
            guard shift <= 28 else { throw HPACKError(.integerOverflow) }
        }
    }

    /// Byte equality of two short strings (field names and values of the HPACK tables).
    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0, let first = a.baseAddress, let second = b.baseAddress else { return true }
        // Safe: both buffers hold `a.count` bytes (checked above); memcmp only reads them.
        return memcmp(first, second, a.count) == 0
    }

    /// Whether `bytes` are `literal`'s, compared as bytes (`elementsEqual` with a
    /// `String.UTF8View` steps through the string's indices one by one).
    @inline(__always)
    static func equal(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        equal(bytes, UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inline(__always)
    static func equal(_ bytes: [UInt8], _ literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount && bytes.withUnsafeBytes { equal($0, literal) }
    }

    /// Appends `bytes` as a string literal, Huffman-coded when `huffman` and that is no longer.
    static func appendString(_ bytes: UnsafeRawBufferPointer, huffman: Bool, into out: inout [UInt8]) {
        let huffmanLength = huffman ? HPACKHuffman.encodedLength(bytes) : bytes.count
        if huffman && huffmanLength <= bytes.count {
            appendInteger(huffmanLength, prefixBits: 7, flags: 0x80, into: &out)
            HPACKHuffman.encode(bytes, encodedLength: huffmanLength, into: &out)
        } else {
            appendInteger(bytes.count, prefixBits: 7, flags: 0, into: &out)
            out.append(contentsOf: bytes)
        }
    }

    /// Reads a string literal at `index`, advancing it; Huffman-coded strings are decoded.
    static func readString(_ input: UnsafeRawBufferPointer, at index: inout Int) throws(HPACKError) -> [UInt8] {
        guard index < input.count else { throw HPACKError(.truncated) }
        let huffman = input[index] & 0x80 != 0
        let length = try readInteger(input, at: &index, prefixBits: 7)
        guard length <= input.count - index else { throw HPACKError(.truncated) }
        // Safe: index + length <= input.count, checked above.
        let raw = UnsafeRawBufferPointer(rebasing: input[index..<(index + length)])
        index += length
        guard huffman else { return Array(raw) }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(length + length / 2)
        try HPACKHuffman.decode(raw, into: &decoded)
        return decoded
    }
}
