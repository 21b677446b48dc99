import HTTP
import Synchronization
import Telemetry

/// `X-Request-ID`: the client's when it is sane, else a new one.
public enum RequestID {
    /// A client's id is kept when it is 1–128 bytes of `[A-Za-z0-9._-]`: enough for UUIDs
    /// and tracing ids, nothing that could break a log line or a header.
    public static func isValid(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return true
    }
}

/// Makes request ids: 32 lowercase hex digits, a random 64-bit prefix drawn once per
/// process followed by a counter.
///
/// Why not random per request: that is a `getrandom` system call (or a locked generator)
/// on every request, and ids need to be unique, not secret. Unique across restarts and
/// replicas by the random prefix; one atomic increment per id. May be called from any thread.
public final class RequestIDGenerator: Sendable {
    private let prefix: UInt64
    private let counter = Atomic<UInt64>(0)

    public init(seed: UInt64 = UInt64.random(in: .min ... .max)) {
        prefix = seed
    }

    /// A new id, kept as its halves until written (this runs for every request).
    public func nextID() -> GatewayRequestID {
        GatewayRequestID(prefix: prefix, count: counter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// A new id as text.
    public func next() -> String {
        nextID().description
    }
}

/// A request's `X-Request-ID` as the gateway carries it: a client's valid id as it came, or
/// a new one (``RequestIDGenerator``) kept as its two 64-bit halves and written as 32 hex
/// digits where it goes (the upstream's head, the answer, the access line).
///
/// Why not a `String`: a new 32-byte one is an allocation, a UTF-8 check and reference
/// counting on every request that brings no id of its own (most of them), where the halves
/// cost nothing until they are written into buffers that exist anyway.
public struct GatewayRequestID: Sendable, Equatable, ExpressibleByStringLiteral, CustomStringConvertible {
    private enum Storage: Sendable, Equatable {
        case client(String)
        case generated(prefix: UInt64, count: UInt64)
    }

    private let storage: Storage

    /// A client's id (``RequestID/isValid(_:)`` checked it).
    public init(_ text: String) {
        storage = .client(text)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    init(prefix: UInt64, count: UInt64) {
        storage = .generated(prefix: prefix, count: count)
    }

    /// The id as text.
    public var description: String {
        switch storage {
        case .client(let text): text
        case .generated: withBytes { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Calls `body` with the id's bytes, valid during the call (a new id's are on the stack).
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch storage {
        case .client(let text):
            return try text.withContiguousUTF8 { try body(UnsafeRawBufferPointer($0)) }
        case .generated(let prefix, let count):
            return try withUnsafeTemporaryAllocation(byteCount: 32, alignment: 8) { digits in
                Self.write(prefix, count, into: digits)
                return try body(UnsafeRawBufferPointer(digits))
            }
        }
    }

    /// Adds `X-Request-ID` among fields appended together (a new id written into its record).
    public func add(to fields: inout HTTPFieldAppender) {
        switch storage {
        case .client(let text):
            fields.add(.xRequestID, value: text)
        case .generated(let prefix, let count):
            fields.add(.xRequestID, tokenValueCount: 32) { Self.write(prefix, count, into: $0) }
        }
    }

    /// The 32 lower-case hex digits of a new id.
    private static func write(_ prefix: UInt64, _ count: UInt64, into digits: UnsafeMutableRawBufferPointer) {
        HexDigits.write(prefix, into: digits, at: 0)
        HexDigits.write(count, into: digits, at: 16)
    }
}
