import COpenSSL

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

    /// A random 128-bit id as 32 lower-case hex digits.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 32)
        for i in 0..<16 {
            out[i] = hex[Int(high >> UInt64(60 - 4 * i) & 0xF)]
            out[16 + i] = hex[Int(low >> UInt64(60 - 4 * i) & 0xF)]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The client's id if sane, else a new one.
    public static func choose(_ offered: String?) -> String {
        if let offered, isSane(offered) { return offered }
        return generate()
    }
}
