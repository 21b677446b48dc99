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

    /// One 32-byte string written in place: this runs for every request.
    public func next() -> String {
        let value = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return String(unsafeUninitializedCapacity: 32) { buffer in
            HexDigits.write(prefix, into: UnsafeMutableRawBufferPointer(buffer), at: 0)
            HexDigits.write(value, into: UnsafeMutableRawBufferPointer(buffer), at: 16)
            return 32
        }
    }
}
