#if canImport(Glibc)
import Glibc
#endif
import HTTP

/// The bytes of one JSON log line, written field by field (`,"key":value`, each with its
/// leading comma: a line always starts with `{"ts":…`).
///
/// Why raw memory and not a `[UInt8]`: a line is some thirty appends, and each `Array`
/// append checks uniqueness and capacity through generic code. A line writes into stack
/// scratch (``withLine(_:)``), moves to the heap only when it outgrows it, and is handed to
/// its sink as a buffer; noncopyable, so its storage has one owner that frees it.
public struct JSONLogLine: ~Copyable {
    /// Room for a line on the stack; longer lines move to the heap.
    static let stackCapacity = 1024

    private var start: UnsafeMutableRawPointer
    private var count = 0
    private var capacity: Int
    /// Whether `start` is heap memory this line allocated (and frees).
    private var ownsStorage = false

    private init(scratch: UnsafeMutableRawBufferPointer) {
        // Safe: `withUnsafeTemporaryAllocation` never hands out an empty buffer of a
        // non-zero size; the line never outlives `withLine`'s scope.
        start = scratch.baseAddress!
        capacity = scratch.count
    }

    deinit {
        if ownsStorage { start.deallocate() }
    }

    /// Calls `body` with an empty line; the line's bytes live until `body` returns.
    public static func withLine<Result>(_ body: (inout JSONLogLine) throws -> Result) rethrows -> Result {
        try withUnsafeTemporaryAllocation(byteCount: stackCapacity, alignment: 8) { scratch in
            var line = JSONLogLine(scratch: scratch)
            return try body(&line)
        }
    }

    /// The bytes written so far, valid during `body`.
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// The bytes written so far as text.
    public var text: String {
        withBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Room for `more` bytes after `count`: the storage doubles (at least) onto the heap.
    @inline(__always)
    private mutating func reserve(_ more: Int) {
        if count &+ more > capacity { grow(to: count + more) }
    }

    private mutating func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        // Scoped: both regions are valid and `count` bytes are initialized in the old one.
        storage.copyMemory(from: start, byteCount: count)
        if ownsStorage { start.deallocate() }
        start = storage
        capacity = newCapacity
        ownsStorage = true
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        start.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count &+= 1
    }

    mutating func appendBytes(_ raw: UnsafeRawBufferPointer) {
        guard let base = raw.baseAddress, raw.count > 0 else { return }
        reserve(raw.count)
        // Scoped: `reserve` made room for `raw.count` bytes at `count`.
        (start + count).copyMemory(from: base, byteCount: raw.count)
        count &+= raw.count
    }

    mutating func raw(_ text: StaticString) {
        // Safe: a StaticString's storage is immortal and `utf8CodeUnitCount` bytes long.
        appendBytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Text that is JSON already (a number's description).
    mutating func json(_ text: String) {
        text.withContiguousUTF8 { appendBytes(UnsafeRawBufferPointer($0)) }
    }

    /// `,"key":` — `key` is written as given (our keys need no escaping).
    public mutating func key(_ key: StaticString) {
        let length = key.utf8CodeUnitCount
        reserve(length + 4)
        let out = start + count
        out.storeBytes(of: UInt8(ascii: ","), as: UInt8.self)
        out.storeBytes(of: UInt8(ascii: "\""), toByteOffset: 1, as: UInt8.self)
        // Safe: a StaticString's storage is immortal and `length` bytes long; `reserve` made room.
        (out + 2).copyMemory(from: key.utf8Start, byteCount: length)
        out.storeBytes(of: UInt8(ascii: "\""), toByteOffset: length + 2, as: UInt8.self)
        out.storeBytes(of: UInt8(ascii: ":"), toByteOffset: length + 3, as: UInt8.self)
        count &+= length + 4
    }

    /// `,"key":` for a key made at run time (escaped).
    public mutating func key(escaping key: String) {
        append(UInt8(ascii: ","))
        string(key)
        append(UInt8(ascii: ":"))
    }

    public mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        string(value)
    }

    public mutating func field(_ key: StaticString, _ value: Substring) {
        self.key(key)
        value.withContiguousUTF8 { quoted(UnsafeRawBufferPointer($0)) }
    }

    /// A value given as its UTF-8 bytes, escaped as a string's.
    public mutating func field(_ key: StaticString, utf8 value: UnsafeRawBufferPointer) {
        self.key(key)
        quoted(value)
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
        append(UInt8(ascii: "."))
        var divisor = 100_000
        let fraction = micros % 1_000_000
        while divisor > 0 {
            append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
            divisor /= 10
        }
    }

    /// A fixed-point number with three decimals (milliseconds with microsecond precision):
    /// `1.234`, integral values as `2.0`.
    public mutating func field(_ key: StaticString, milli value: Double) {
        self.key(key)
        let micros = Int((max(0, value) * 1e3).rounded())
        integer(micros / 1000)
        append(UInt8(ascii: "."))
        var fraction = micros % 1000
        if fraction == 0 { return append(UInt8(ascii: "0")) }
        var digits = 3
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        var divisor = 1
        for _ in 1..<digits { divisor *= 10 }
        while divisor > 0 {
            append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
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

    /// `utf8` as a JSON string. A log line's values rarely hold a byte to escape: one scan
    /// of eight bytes at a time says so, and the value is copied whole; otherwise runs that
    /// need no escape are copied whole, escapes written between them.
    private mutating func quoted(_ utf8: UnsafeRawBufferPointer) {
        guard Self.holdsByteToEscape(utf8) else {
            reserve(utf8.count &+ 2)
            start.storeBytes(of: UInt8(ascii: "\""), toByteOffset: count, as: UInt8.self)
            if let base = utf8.baseAddress {
                // Scoped: `reserve` made room for the value and both quotes.
                (start + (count &+ 1)).copyMemory(from: base, byteCount: utf8.count)
            }
            start.storeBytes(of: UInt8(ascii: "\""), toByteOffset: count &+ utf8.count &+ 1, as: UInt8.self)
            count &+= utf8.count &+ 2
            return
        }
        append(UInt8(ascii: "\""))
        var runStart = 0
        for index in 0..<utf8.count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if runStart < index { appendBytes(UnsafeRawBufferPointer(rebasing: utf8[runStart..<index])) }
            appendEscaped(byte)
            runStart = index &+ 1
        }
        if runStart < utf8.count { appendBytes(UnsafeRawBufferPointer(rebasing: utf8[runStart...])) }
        append(UInt8(ascii: "\""))
    }

    /// Whether `utf8` holds a control character, `"` or `\` (the bytes a JSON string
    /// escapes), read eight bytes at a time: the last word overlaps the one before it, and
    /// a value shorter than eight bytes is padded with `A`s.
    static func holdsByteToEscape(_ utf8: UnsafeRawBufferPointer) -> Bool {
        let total = utf8.count
        guard total >= 8 else {
            var word: UInt64 = 0x4141_4141_4141_4141
            // Scoped: at most 7 bytes copied into the 8 of `word`.
            if total > 0 { withUnsafeMutableBytes(of: &word) { $0.copyMemory(from: utf8) } }
            return holdsByteToEscape(word)
        }
        var offset = 0
        while offset &+ 8 < total {
            if holdsByteToEscape(utf8.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) { return true }
            offset &+= 8
        }
        return holdsByteToEscape(utf8.loadUnaligned(fromByteOffset: total &- 8, as: UInt64.self))
    }

    /// Whether any of the eight bytes of `word` is a control character, `"` or `\`. Exact:
    /// the "has a byte less than n" and "has a zero byte" tests of bit twiddling never miss
    /// a byte and never report one that is not there (they may misplace it, which nothing
    /// here relies on).
    @inline(__always)
    static func holdsByteToEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word & highs
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let quoteZero = (quote &- ones) & ~quote & highs
        let backslashZero = (backslash &- ones) & ~backslash & highs
        return control | quoteZero | backslashZero != 0
    }

    mutating func integer(_ value: Int) {
        if value < 0 { append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        if magnitude < 10 { return append(UInt8(ascii: "0") + UInt8(magnitude)) }
        var digits = 0
        var rest = magnitude
        while rest > 0 {
            digits &+= 1
            rest /= 10
        }
        reserve(digits)
        // Scoped: `reserve` made room for the `digits` bytes, written back to front.
        var position = count &+ digits
        while magnitude > 0 {
            position &-= 1
            start.storeBytes(of: UInt8(ascii: "0") &+ UInt8(magnitude % 10), toByteOffset: position, as: UInt8.self)
            magnitude /= 10
        }
        count &+= digits
    }

    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            append(0x5C)
            append(byte)
        case 0x0A: raw("\\n")
        case 0x0D: raw("\\r")
        case 0x09: raw("\\t")
        case 0..<0x20:
            let hex: StaticString = "0123456789abcdef"
            raw("\\u00")
            append(hex.utf8Start[Int(byte >> 4)])
            append(hex.utf8Start[Int(byte & 0xF)])
        default:
            append(byte)
        }
    }

    /// `"2026-11-25T16:22:47.123Z"` (quoted): RFC 3339 UTC with milliseconds, now.
    mutating func timestampNow() {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        appendTimestamp(seconds: Int(spec.tv_sec), milliseconds: Int(spec.tv_nsec / 1_000_000))
    }

    /// `"YYYY-MM-DDTHH:MM:SS.mmmZ"` (quoted) for `seconds` since 1970 UTC (not before it).
    ///
    /// The date is computed (``HTTPDate/civilDate(daysSince1970:)``) rather than asked of
    /// `gmtime_r`, which also works out the weekday, the day of the year and the time
    /// zone's fields that a log line does not use.
    mutating func appendTimestamp(seconds: Int, milliseconds: Int) {
        let secondOfDay = max(0, seconds) % 86_400
        let (year, month, day) = HTTPDate.civilDate(daysSince1970: max(0, seconds) / 86_400)
        reserve(26)
        let out = start + count
        // Scoped: `reserve` made room for the 26 bytes written at `out`.
        func put(_ byte: UInt8, at offset: Int) { out.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self) }
        func digits(_ value: Int, _ width: Int, at offset: Int) {
            var value = value
            for index in stride(from: offset + width - 1, through: offset, by: -1) {
                put(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10), at: index)
                value /= 10
            }
        }
        put(UInt8(ascii: "\""), at: 0)
        digits(year, 4, at: 1)
        put(UInt8(ascii: "-"), at: 5)
        digits(month, 2, at: 6)
        put(UInt8(ascii: "-"), at: 8)
        digits(day, 2, at: 9)
        put(UInt8(ascii: "T"), at: 11)
        digits(secondOfDay / 3600, 2, at: 12)
        put(UInt8(ascii: ":"), at: 14)
        digits(secondOfDay / 60 % 60, 2, at: 15)
        put(UInt8(ascii: ":"), at: 17)
        digits(secondOfDay % 60, 2, at: 18)
        put(UInt8(ascii: "."), at: 20)
        digits(milliseconds, 3, at: 21)
        put(UInt8(ascii: "Z"), at: 24)
        put(UInt8(ascii: "\""), at: 25)
        count &+= 26
    }
}
