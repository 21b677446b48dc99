import Telemetry

/// The `Idempotency-Key` the gateway adds to a `POST` that the client sent without one,
/// on routes whose service stores keys (``RouteTable/POSTResend/withKey``): with it, the
/// gateway may send the request to another instance when the first closed the connection
/// without answering, and the service answers the second arrival from the first instead of
/// creating twice.
public enum IdempotencyKeys {
    public static let headerName = "Idempotency-Key"

    /// 32 lowercase hex digits of 128 random bits: unguessable, so that no other client can
    /// send a request with the key first (or after, to learn the answer; the service also
    /// checks that the caller and body match). May be called from any thread.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let high: UInt64 = generator.next()
        let low: UInt64 = generator.next()
        return String(unsafeUninitializedCapacity: 32) { buffer in
            HexDigits.write(high, into: UnsafeMutableRawBufferPointer(buffer), at: 0)
            HexDigits.write(low, into: UnsafeMutableRawBufferPointer(buffer), at: 16)
            return 32
        }
    }
}
