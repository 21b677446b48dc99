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
    mutating func json(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// `,"key":` — `key` is written as given (our keys need no escaping).
    public mutating func key(_ key: StaticString) {
        raw(",\"")
        raw(key)
        raw("\":")
    }

    /// `,"key":` for a key made at run time (escaped).
    public mutating func key(_ key: String) {
        bytes.append(UInt8(ascii: ","))
        JSONText.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        JSONText.appendString(value, to: &bytes)
    }

    public mutating func field(_ key: StaticString, _ value: Substring) {
        self.key(key)
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 { appendEscaped(byte) }
        bytes.append(UInt8(ascii: "\""))
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

    mutating func string(_ value: String) { JSONText.appendString(value, to: &bytes) }

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
        bytes.append(UInt8(ascii: "\""))
        integer(Int(parts.tm_year) + 1900)
        bytes.append(UInt8(ascii: "-"))
        two(parts.tm_mon + 1)
        bytes.append(UInt8(ascii: "-"))
        two(parts.tm_mday)
        bytes.append(UInt8(ascii: "T"))
        two(parts.tm_hour)
        bytes.append(UInt8(ascii: ":"))
        two(parts.tm_min)
        bytes.append(UInt8(ascii: ":"))
        two(parts.tm_sec)
        bytes.append(UInt8(ascii: "."))
        bytes.append(UInt8(ascii: "0") + UInt8(millis / 100 % 10))
        bytes.append(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        bytes.append(UInt8(ascii: "0") + UInt8(millis % 10))
        raw("Z\"")
    }

    private mutating func two(_ value: Int32) {
        bytes.append(UInt8(ascii: "0") + UInt8(value / 10 % 10))
        bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
    }
}
