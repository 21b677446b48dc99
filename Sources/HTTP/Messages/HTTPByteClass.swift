/// Byte classes of RFC 9110/9112 as bit tables, shared by the parser and the serializer.
///
/// Why bit masks instead of `[Bool]` tables: two `UInt64` literals fold into constants, so a
/// lookup is a shift and a mask with no array bounds check and no lazy global initialisation
/// on the hot path.
@usableFromInline
enum HTTPByteClass {
    /// `tchar` bits for bytes 0...63: `! # $ % & ' * + - .` and the digits.
    @usableFromInline static let tokenLow: UInt64 = 0x03ff_6cfa_0000_0000
    /// `tchar` bits for bytes 64...127: the letters and `^ _ \` | ~`.
    @usableFromInline static let tokenHigh: UInt64 = 0x57ff_ffff_c7ff_fffe

    /// Whether `byte` is a `tchar` (RFC 9110 §5.6.2), the alphabet of methods and field names.
    @inlinable @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool {
        if byte < 64 { return (tokenLow >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (tokenHigh >> UInt64(byte &- 64)) & 1 == 1 }
        return false
    }

    /// Whether `byte` may appear inside a field value: `VCHAR`, `obs-text`, `SP` or `HTAB`.
    ///
    /// NUL, CR, LF, DEL and the other controls are refused: they are how header injection
    /// and request smuggling start.
    @inlinable @inline(__always)
    static func isFieldValue(_ byte: UInt8) -> Bool {
        (byte >= 0x20 && byte != 0x7F) || byte == 0x09
    }

    /// The offset of the first byte at or after `start` that may not appear in a field
    /// value, or `bytes.count` when there is none.
    ///
    /// Eight bytes at a time (values are most of a head's bytes): a word with no byte below
    /// 0x20 and none equal to 0x7F holds only value bytes (0x80 and above is obs-text). A
    /// word with a control byte, HTAB included, is finished byte by byte.
    static func endOfFieldValue(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        var index = start
        while index + 8 <= bytes.count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            // "Has a byte below n" (n <= 128) and "has a zero byte" tests: exact for the word as
            // a whole and for its first flagged byte (a borrow only flags bytes after a true one).
            let belowSpace = (word &- ones &* 0x20) & ~word & highBits
            let delete = word ^ (ones &* 0x7F)
            let hasDelete = (delete &- ones) & ~delete & highBits
            let flagged = belowSpace | hasDelete
            if flagged != 0 {
                // Skip to the first flagged byte (an HTAB among them is valid: the byte loop goes on).
                index += flagged.trailingZeroBitCount >> 3
                break
            }
            index += 8
        }
        while index < bytes.count, isFieldValue(bytes[index]) { index += 1 }
        return index
    }

    /// Whether `byte` may appear in a request target: visible ASCII only (RFC 3986 characters
    /// and the few that clients send unescaped); anything else is refused rather than guessed at.
    @inlinable @inline(__always)
    static func isTargetByte(_ byte: UInt8) -> Bool {
        byte >= 0x21 && byte <= 0x7E
    }

    /// Whether `byte` is optional whitespace (`SP` or `HTAB`).
    @inlinable @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09
    }

    /// The value of a hexadecimal digit, or `nil`.
    @inlinable @inline(__always)
    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte &- UInt8(ascii: "A") &+ 10)
        default: return nil
        }
    }
}

/// ASCII helpers over `String.UTF8View`, so that header work never goes through `Character`.
@usableFromInline
enum HTTPASCII {
    /// ASCII lower case of one byte; other bytes stay as they are.
    @inlinable @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }

    /// Whether two strings are equal ignoring ASCII case, as field names are compared.
    @inlinable
    static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        // Over contiguous bytes: header look-ups run this per field.
        return a.withContiguousUTF8 { x in
            b.withContiguousUTF8 { y in
                for index in 0..<x.count where x[index] != y[index] && lower(x[index]) != lower(y[index]) {
                    return false
                }
                return true
            }
        }
    }

    /// Whether two byte strings are equal ignoring ASCII case, as field names are compared.
    @inlinable
    static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for index in 0..<a.count where a[index] != b[index] && lower(a[index]) != lower(b[index]) {
            return false
        }
        return true
    }

    /// Whether `bytes` equals `lowercase` ignoring ASCII case; `lowercase` must be lower case.
    @inlinable
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        // Safe: a StaticString's storage is immortal and `utf8CodeUnitCount` bytes long.
        let other = UnsafeRawBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        for index in 0..<bytes.count where lower(bytes[index]) != other[index] {
            return false
        }
        return true
    }

    /// A string from bytes; ASCII copies straight through, invalid UTF-8 (only possible in
    /// `obs-text`) is repaired with U+FFFD, which is why we never echo such values back verbatim.
    @inlinable @inline(__always)
    static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// The comma-separated elements of a list-valued field, trimmed of OWS and lowercased;
    /// empty elements are kept as empty strings so that strict callers can refuse them.
    static func lowercasedListElements(_ value: String) -> [String] {
        var elements: [String] = []
        var current: [UInt8] = []
        func flush() {
            var start = 0
            var end = current.count
            while start < end, HTTPByteClass.isWhitespace(current[start]) { start += 1 }
            while end > start, HTTPByteClass.isWhitespace(current[end - 1]) { end -= 1 }
            elements.append(String(decoding: current[start..<end], as: UTF8.self))
            current.removeAll(keepingCapacity: true)
        }
        for byte in value.utf8 {
            if byte == UInt8(ascii: ",") { flush() } else { current.append(lower(byte)) }
        }
        flush()
        return elements
    }

    /// Whether the comma-separated list `value` has an element equal to `lowercase` ignoring
    /// ASCII case and surrounding OWS; allocation-free for the per-request `Connection` check.
    static func listContains(_ value: UnsafeRawBufferPointer, lowercase: StaticString) -> Bool {
        var found = false
        forEachListElement(value) { element in
            found = equalsIgnoringCase(element, lowercase: lowercase)
            return !found
        }
        return found
    }

    /// Calls `body` with each comma-separated element of `value`, trimmed of OWS, empty ones
    /// included (strict callers refuse them), until it returns false.
    @inline(__always)
    static func forEachListElement(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Bool) {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count, value[end] != UInt8(ascii: ",") { end += 1 }
            var low = start
            var high = end
            while low < high, HTTPByteClass.isWhitespace(value[low]) { low += 1 }
            while high > low, HTTPByteClass.isWhitespace(value[high - 1]) { high -= 1 }
            // Safe: low..<high lies inside `value`, which outlives this call.
            guard body(UnsafeRawBufferPointer(rebasing: value[low..<high])) else { return }
            start = end + 1
        }
    }
}
