/// Base64 (RFC 4648 §4) and base64url (§5) without Foundation: tokens and password
/// hashes are encoded on every login and every authenticated request, and the alphabet
/// tables below are all it takes.
public enum Base64 {
    private static let standardAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Maps an ASCII byte to its 6-bit value for either alphabet (`+`/`-` → 62, `/`/`_` → 63);
    /// 0xFF marks bytes outside both.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in standardAlphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    /// Encodes `bytes`; `url` picks the URL-safe alphabet, `padding` the trailing `=`.
    public static func encode<C: Collection<UInt8>>(_ bytes: C, url: Bool = false, padding: Bool = true) -> String {
        let alphabet = url ? urlAlphabet : standardAlphabet
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = iterator.next()
            let n = UInt32(b0) << 16 | UInt32(b1 ?? 0) << 8 | UInt32(b2 ?? 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if b1 != nil { out.append(alphabet[Int(n >> 6 & 63)]) } else if padding { out.append(UInt8(ascii: "=")) }
            if b2 != nil { out.append(alphabet[Int(n & 63)]) } else if padding { out.append(UInt8(ascii: "=")) }
            if b2 == nil { break }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// base64url without padding, as JWTs use it (RFC 7515 §2).
    public static func encodeURL<C: Collection<UInt8>>(_ bytes: C) -> String {
        encode(bytes, url: true, padding: false)
    }

    /// Decodes either alphabet, with or without padding; nil for anything malformed
    /// (bad characters, a length that cannot be base64, non-zero leftover bits).
    public static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        var utf8 = Array(text.utf8)
        while utf8.last == UInt8(ascii: "=") { utf8.removeLast() }
        if utf8.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in utf8 {
            let value = decodeTable[Int(byte)]
            if value == 0xFF { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // Canonical encodings leave only zero bits behind; anything else is a forgery aid.
        if accumulator != 0 { return nil }
        return out
    }
}
