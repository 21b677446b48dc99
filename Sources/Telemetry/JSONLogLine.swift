#if canImport(Glibc)
import Glibc
#endif

/// The bytes of one JSON log line, written field by field (`,"key":value`, each with its
/// leading comma: a line always starts with `{"ts":…`).
public struct JSONLogLine {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ text: StaticString) {
        // Safe: a StaticString's storage is immortal and `utf8CodeUnitCount` bytes long.
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ byte: UInt8) { bytes.append(byte) }

    mutating func appendBytes(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }

    /// Text that is JSON already (a number's description).
    mutating func json(_ text: String) {
        text.withContiguousUTF8 { bytes.append(contentsOf: UnsafeRawBufferPointer($0)) }
    }

    /// `,"key":` — `key` is written as given (our keys need no escaping).
    public mutating func key(_ key: StaticString) {
        // Assembled on the stack and appended once: each `append` checks the array's
        // uniqueness and capacity, and a line has a dozen keys.
        let count = key.utf8CodeUnitCount
        withUnsafeTemporaryAllocation(byteCount: count + 4, alignment: 1) { scratch in
            scratch[0] = UInt8(ascii: ",")
            scratch[1] = UInt8(ascii: "\"")
            // Safe: a StaticString's storage is immortal and `count` bytes long.
            UnsafeMutableRawBufferPointer(rebasing: scratch[2..<count + 2]).copyMemory(
                from: UnsafeRawBufferPointer(start: key.utf8Start, count: count))
            scratch[count + 2] = UInt8(ascii: "\"")
            scratch[count + 3] = UInt8(ascii: ":")
            bytes.append(contentsOf: UnsafeRawBufferPointer(scratch))
        }
    }

    /// `,"key":` for a key made at run time (escaped).
    public mutating func key(_ key: String) {
        bytes.append(UInt8(ascii: ","))
        string(key)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        string(value)
    }

    public mutating func field(_ key: StaticString, _ value: Substring) {
        self.key(key)
        value.withContiguousUTF8 { quoted(UnsafeRawBufferPointer($0)) }
    }

    /// `null` when `value` is nil.
    public mutating func field(_ key: StaticString, _ value: String?) {
        if let value { field(key, value) } else { self.key(key); raw("null") }
    }

    public mutating func field(_ key: StaticString, _ value: Int) {
        self.key(key)
        integer(value)
    }

    /// Seconds (or any quantity) with microsecond precision, `0.001234`; `null` when nil.
    public mutating func field(_ key: StaticString, micros value: Double?) {
        self.key(key)
        guard let value else { return raw("null") }
        let micros = Int((max(0, value) * 1e6).rounded())
        integer(micros / 1_000_000)
        bytes.append(UInt8(ascii: "."))
        var divisor = 100_000
        let fraction = micros % 1_000_000
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
            divisor /= 10
        }
    }

    /// A fixed-point number with three decimals (milliseconds with microsecond precision):
    /// `1.234`, integral values as `2.0`.
    public mutating func field(_ key: StaticString, milli value: Double) {
        self.key(key)
        let micros = Int((max(0, value) * 1e3).rounded())
        integer(micros / 1000)
        bytes.append(UInt8(ascii: "."))
        var fraction = micros % 1000
        if fraction == 0 { return bytes.append(UInt8(ascii: "0")) }
        var digits = 3
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        var divisor = 1
        for _ in 1..<digits { divisor *= 10 }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
            divisor /= 10
        }
    }

    public mutating func field(_ key: StaticString, _ value: Bool) {
        self.key(key)
        value ? raw("true") : raw("false")
    }

    mutating func string(_ value: String) {
        value.withContiguousUTF8 { quoted(UnsafeRawBufferPointer($0)) }
    }

    /// `utf8` as a JSON string: runs that need no escape are copied whole (a log line's
    /// values rarely hold any), escapes written between them.
    private mutating func quoted(_ utf8: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        for index in 0..<utf8.count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if start < index { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[start..<index])) }
            appendEscaped(byte)
            start = index + 1
        }
        if start < utf8.count { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[start...])) }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func integer(_ value: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        if magnitude < 10 { return bytes.append(UInt8(ascii: "0") + UInt8(magnitude)) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            // Scoped: the tuple's 20 bytes hold any UInt64's digits, written back to front.
            while magnitude > 0 {
                count += 1
                buffer[20 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            }
            bytes.append(contentsOf: buffer[(20 - count)...])
        }
    }

    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            bytes.append(0x5C)
            bytes.append(byte)
        case 0x0A: raw("\\n")
        case 0x0D: raw("\\r")
        case 0x09: raw("\\t")
        case 0..<0x20:
            let hex: StaticString = "0123456789abcdef"
            raw("\\u00")
            bytes.append(hex.utf8Start[Int(byte >> 4)])
            bytes.append(hex.utf8Start[Int(byte & 0xF)])
        default:
            bytes.append(byte)
        }
    }

    /// `"2026-11-25T16:22:47.123Z"` (quoted): RFC 3339 UTC with milliseconds, now.
    mutating func timestampNow() {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        let millis = Int(spec.tv_nsec / 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // `"YYYY-MM-DDTHH:MM:SS.mmmZ"`: 26 bytes written on the stack, appended once.
        withUnsafeTemporaryAllocation(byteCount: 26, alignment: 1) { out in
            func digits(_ value: Int, _ count: Int, at offset: Int) {
                var value = value
                for index in stride(from: offset + count - 1, through: offset, by: -1) {
                    out[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            out[0] = UInt8(ascii: "\"")
            digits(Int(parts.tm_year) + 1900, 4, at: 1)
            out[5] = UInt8(ascii: "-")
            digits(Int(parts.tm_mon) + 1, 2, at: 6)
            out[8] = UInt8(ascii: "-")
            digits(Int(parts.tm_mday), 2, at: 9)
            out[11] = UInt8(ascii: "T")
            digits(Int(parts.tm_hour), 2, at: 12)
            out[14] = UInt8(ascii: ":")
            digits(Int(parts.tm_min), 2, at: 15)
            out[17] = UInt8(ascii: ":")
            digits(Int(parts.tm_sec), 2, at: 18)
            out[20] = UInt8(ascii: ".")
            digits(millis, 3, at: 21)
            out[24] = UInt8(ascii: "Z")
            out[25] = UInt8(ascii: "\"")
            bytes.append(contentsOf: UnsafeRawBufferPointer(out))
        }
    }
}
