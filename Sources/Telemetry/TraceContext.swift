import HTTP
import Synchronization

/// A W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/): the trace a
/// request belongs to, the span that sent it, and its flags. The gateway accepts a client's
/// valid one or starts a trace; every process continues it with a span of its own, whose id
/// it sends as the parent of its outgoing calls, and logs the trace id on every line.
///
/// Parsing is strict and bounded, since the value comes from outside: lower-case hex only,
/// ids not all zero, version `ff` refused, a version-00 value exactly 55 bytes, a later
/// version's value at least 55 bytes and at most ``maxLength`` (its first 55 read as
/// version 00, as the specification asks). Anything else is not trusted: a new trace starts.
public struct TraceContext: Sendable, Hashable {
    /// The 128-bit trace id: `high` is its first 16 hex digits.
    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    /// This span's id (the `parent-id` of the calls it makes).
    public var spanID: UInt64
    /// `trace-flags`; bit 0 is "sampled".
    public var flags: UInt8

    /// A version-00 `traceparent` value's length.
    public static let length = 55
    /// The longest value parsed: a later version may append fields, not kilobytes.
    public static let maxLength = 256

    public init(traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, flags: UInt8) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.spanID = spanID
        self.flags = flags
    }

    /// Parses a `traceparent` value; nil when it is not valid.
    public init?(traceparent value: UnsafeRawBufferPointer) {
        guard value.count >= Self.length, value.count <= Self.maxLength,
            let version = Self.hex(value, 0, 2), version != 0xFF,
            value.count == Self.length ? true : (version != 0 && value[Self.length] == UInt8(ascii: "-")),
            value[2] == UInt8(ascii: "-"), value[35] == UInt8(ascii: "-"), value[52] == UInt8(ascii: "-"),
            let high = Self.hex(value, 3, 16), let low = Self.hex(value, 19, 16), high | low != 0,
            let parent = Self.hex(value, 36, 16), parent != 0,
            let flags = Self.hex(value, 53, 2)
        else { return nil }
        self.init(traceIDHigh: high, traceIDLow: low, spanID: parent, flags: UInt8(flags))
    }

    public init?(traceparent: String) {
        var text = traceparent
        guard let parsed = text.withUTF8({ TraceContext(traceparent: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }

    /// A new trace (sampled: its lines are logged) with a new span.
    public static func start() -> TraceContext {
        let ids = TraceIDSource.nextThree()
        return TraceContext(traceIDHigh: ids.0, traceIDLow: ids.1, spanID: ids.2, flags: 0x01)
    }

    /// The same trace, a new span of this process's whose parent is `self`'s span.
    public func child() -> TraceContext {
        TraceContext(traceIDHigh: traceIDHigh, traceIDLow: traceIDLow, spanID: TraceIDSource.next(), flags: flags)
    }

    /// This process's span for a request carrying `headers`: a child of a valid `traceparent`,
    /// else the first span of a new trace. `continued` says which; `present`, whether there
    /// was a `traceparent` at all (valid or not).
    @inlinable  // into the gateway's and the services' request paths
    public static func continuing(_ headers: HTTPHeaders) -> (context: TraceContext, continued: Bool, present: Bool) {
        var parent: TraceContext?
        var present = false
        headers.readFirstValue(.traceparent) { value in
            guard let value else { return }
            present = true
            parent = TraceContext(traceparent: value)
        }
        if let parent { return (parent.child(), true, present) }
        return (start(), false, present)
    }

    /// Adds `traceparent` naming this span as the parent, for an outgoing call.
    public func add(to headers: inout HTTPHeaders) {
        headers.appendFields { add(to: &$0) }
    }

    /// Adds `traceparent` naming this span as the parent among fields appended together,
    /// written straight into its record.
    public func add(to fields: inout HTTPFieldAppender) {
        fields.add(.traceparent, tokenValueCount: Self.length) { write(into: $0) }
    }

    /// `00-<trace-id>-<span-id>-<flags>`.
    public var traceparent: String {
        String(unsafeUninitializedCapacity: Self.length) { buffer in
            write(into: UnsafeMutableRawBufferPointer(buffer))
            return Self.length
        }
    }

    /// The trace id as 32 hex digits, as logs carry it.
    public var traceID: String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            HexDigits.write(traceIDHigh, into: raw, at: 0)
            HexDigits.write(traceIDLow, into: raw, at: 16)
            return 32
        }
    }

    /// The span id as 16 hex digits.
    public var spanIDString: String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            HexDigits.write(spanID, into: UnsafeMutableRawBufferPointer(buffer), at: 0)
            return 16
        }
    }

    /// Writes the 55 bytes of the version-00 value; `buffer` holds at least that many.
    func write(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.length)
        buffer[0] = UInt8(ascii: "0")
        buffer[1] = UInt8(ascii: "0")
        buffer[2] = UInt8(ascii: "-")
        HexDigits.write(traceIDHigh, into: buffer, at: 3)
        HexDigits.write(traceIDLow, into: buffer, at: 19)
        buffer[35] = UInt8(ascii: "-")
        HexDigits.write(spanID, into: buffer, at: 36)
        buffer[52] = UInt8(ascii: "-")
        buffer[53] = Self.hexDigit(flags >> 4)
        buffer[54] = Self.hexDigit(flags & 0xF)
    }

    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// `count` lower-case hex digits at `offset`, or nil (upper case is not valid here).
    static func hex(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> UInt64? {
        var value: UInt64 = 0
        for index in offset..<offset + count {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}

extension JSONLogLine {
    /// `,"trace_id":"<32 hex digits>"` without making a `String`.
    public mutating func field(_ key: StaticString, traceID trace: TraceContext) {
        self.key(key)
        withUnsafeTemporaryAllocation(byteCount: 34, alignment: 1) { scratch in
            scratch[0] = UInt8(ascii: "\"")
            HexDigits.write(trace.traceIDHigh, into: scratch, at: 1)
            HexDigits.write(trace.traceIDLow, into: scratch, at: 17)
            scratch[33] = UInt8(ascii: "\"")
            appendBytes(UnsafeRawBufferPointer(scratch))
        }
    }
}

/// Random-looking, never-repeating 64-bit ids: a random key drawn once, mixed with a counter
/// through SplitMix64 (a bijection). Why not a random number per id: on Linux that is a
/// `getrandom` system call, and ids need to be unique and unguessable across processes,
/// not secret. May be called from any thread.
enum TraceIDSource {
    private static let key: UInt64 = {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }()

    private static let counter = Atomic<UInt64>(0)

    static func next() -> UInt64 {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let id = mix(n ^ key)
        return id == 0 ? next() : id  // an id of zeros is invalid
    }

    /// Three ids from one count (a new trace's two halves and its first span): each is a
    /// bijection of the count under its own key, so none repeats.
    static func nextThree() -> (UInt64, UInt64, UInt64) {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let ids = (mix(n ^ key), mix(n ^ key &* 0xD6E8_FEB8_6659_FD93), mix(n ^ ~key))
        return ids.0 | ids.1 == 0 || ids.2 == 0 ? nextThree() : ids
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// 64-bit ids as 16 lower-case hex digits, as trace and request ids are written.
public enum HexDigits {
    /// Writes `value`'s 16 digits at `offset`; `buffer` has room for them. Eight digits at a
    /// time: each half's nibbles are spread one per byte and turned into ASCII together
    /// (`0`-`9`, then `a`-`f` for the bytes above 9), one store per eight.
    @inlinable @inline(__always)
    public static func write(_ value: UInt64, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + 16 <= buffer.count)
        buffer.storeBytes(of: eight(UInt32(truncatingIfNeeded: value >> 32)), toByteOffset: offset, as: UInt64.self)
        buffer.storeBytes(of: eight(UInt32(truncatingIfNeeded: value)), toByteOffset: offset + 8, as: UInt64.self)
    }

    /// The eight hex digits of `value`, the most significant first in memory order.
    @inlinable @inline(__always)
    static func eight(_ value: UInt32) -> UInt64 {
        var spread = UInt64(value)
        spread = (spread | spread << 16) & 0x0000_FFFF_0000_FFFF
        spread = (spread | spread << 8) & 0x00FF_00FF_00FF_00FF
        spread = (spread | spread << 4) & 0x0F0F_0F0F_0F0F_0F0F  // nibble i in byte i
        let aboveNine = ((spread &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        let ascii = spread &+ 0x3030_3030_3030_3030 &+ aboveNine &* 39  // 39: from `9` + 1 to `a`
        return ascii.bigEndian
    }
}
