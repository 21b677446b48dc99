import COpenSSL

/// SHA-1, only to name Lua scripts the way Redis does (`EVALSHA`): not for security.
///
/// Computed by OpenSSL's libcrypto, which the process links already (TLS, tokens); a script is
/// hashed once per call of ``RedisCommandSender/evalCached(script:keys:args:)`` (short texts).
/// Public so that callers that pipeline `EVALSHA` themselves (the movie cache) name scripts the
/// same way.
public enum SHA1 {
    /// The message's SHA-1 digest as 40 lowercase hexadecimal digits, as `SCRIPT LOAD` answers.
    public static func hexDigest(_ message: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // Both buffers live for the call; `EVP_Digest` reads `message.count` bytes and writes at
        // most EVP_MAX_MD_SIZE. A one-shot digest of a built-in algorithm fails only when
        // memory does.
        let ok = message.withUnsafeBytes { input in
            digest.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, EVP_sha1(), nil)
            }
        }
        precondition(ok == 1 && length == 20, "OpenSSL could not compute a SHA-1 digest")
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(40)
        for byte in digest.prefix(20) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
