import Synchronization

/// `X-Request-ID` handling: keep a sane client id, else make a new one.
public enum RequestID {
    /// 1–128 characters of `[A-Za-z0-9._-]`: safe to log and to pass upstream as is.
    public static func isSane(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        return utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// A 128-bit id as 32 lower-case hex digits, unique within the process and not
    /// guessable from outside it.
    ///
    /// Why not `SystemRandomNumberGenerator` per request: on Linux each call is a
    /// `getrandom` syscall, and syscalls per request are what this server's speed is made
    /// of. Instead a random 128-bit key drawn once is mixed with a counter through
    /// SplitMix64, a bijection, so ids never repeat and look random.
    public static func generate() -> String {
        let n = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        let high = mix(n ^ key.0)
        let low = mix(n &+ key.1)
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 32)
        for i in 0..<16 {
            out[i] = hex[Int(high >> UInt64(60 - 4 * i) & 0xF)]
            out[16 + i] = hex[Int(low >> UInt64(60 - 4 * i) & 0xF)]
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let key: (UInt64, UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
    }()

    private static let counter = Atomic<UInt64>(0)

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The client's id if sane, else a new one.
    public static func choose(_ offered: String?) -> String {
        if let offered, isSane(offered) { return offered }
        return generate()
    }
}
