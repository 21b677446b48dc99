import COpenSSL

/// Salted scrypt password hashes (RFC 7914) through OpenSSL's `EVP_PBE_scrypt`.
///
/// A hash is stored with its parameters, `scrypt$N$r$p$saltB64$hashB64`, so that the
/// cost can be raised later: ``verify(_:against:)`` reads the parameters from the stored
/// string, and ``needsRehash(_:)`` says when a successful login should store a new hash.
///
/// Hashing costs tens of milliseconds of CPU and `128·N·r` bytes of memory by design:
/// call these functions on a blocking thread pool, never on an event loop (ServiceKit's
/// `PasswordHashing` does). Thread-safe.
public struct PasswordHasher: Sendable {
    public struct Parameters: Sendable, Equatable {
        /// CPU/memory cost; a power of two.
        public var n: UInt64
        public var r: UInt64
        public var p: UInt64

        public init(n: UInt64, r: UInt64, p: UInt64) {
            self.n = n
            self.r = r
            self.p = p
        }

        /// N = 2^15, r = 8, p = 1: about 32 MiB and tens of milliseconds per hash.
        public static let standard = Parameters(n: 1 << 15, r: 8, p: 1)

        /// The memory scrypt needs for these parameters, plus headroom.
        var maxMemory: UInt64 { 128 * n * r * p + 128 * r * p + (1 << 20) }

        /// Bounds on what we accept from a stored hash, so a corrupt row cannot ask for
        /// gigabytes: N up to 2^20, r up to 32, p up to 16.
        var isSane: Bool {
            n >= 2 && n <= 1 << 20 && n & (n - 1) == 0 && r >= 1 && r <= 32 && p >= 1 && p <= 16
        }
    }

    public let parameters: Parameters
    /// Derived key length in bytes.
    public let keyLength: Int
    public static let saltLength = 16

    public init(parameters: Parameters = .standard, keyLength: Int = 32) {
        precondition(parameters.isSane, "scrypt parameters out of range")
        precondition(keyLength >= 16 && keyLength <= 64)
        self.parameters = parameters
        self.keyLength = keyLength
    }

    /// A new hash of `password` with a fresh random salt.
    /// - Throws: ``AuthTokenError`` `.crypto` when OpenSSL fails (RAND or scrypt).
    public func hash(_ password: String) throws(AuthTokenError) -> String {
        var salt = [UInt8](repeating: 0, count: Self.saltLength)
        let ok = salt.withUnsafeMutableBytes { buffer in
            RAND_bytes(buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(buffer.count))
        }
        guard ok == 1 else { throw AuthTokenError(.crypto, reason: "RAND_bytes") }
        let key = try Self.derive(password, salt: salt, parameters: parameters, keyLength: keyLength)
        return "scrypt$\(parameters.n)$\(parameters.r)$\(parameters.p)$\(Base64.encode(salt))$\(Base64.encode(key))"
    }

    /// Whether `password` matches `stored`, comparing in constant time.
    /// - Throws: ``AuthTokenError`` `.malformedHash` when `stored` is not one of ours.
    public func verify(_ password: String, against stored: String) throws(AuthTokenError) -> Bool {
        let decoded = try Self.decode(stored)
        let key = try Self.derive(password, salt: decoded.salt, parameters: decoded.parameters,
                                  keyLength: decoded.key.count)
        return key.withUnsafeBytes { a in
            decoded.key.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
    }

    /// Does the same work as a verification against a hash with the current parameters,
    /// and returns false: for logins with an unknown email, so that they take as long as a
    /// wrong password and do not reveal which emails exist.
    public func verifyDummy(_ password: String) -> Bool {
        _ = try? Self.derive(password, salt: [UInt8](repeating: 0x5A, count: Self.saltLength),
                             parameters: parameters, keyLength: keyLength)
        return false
    }

    /// True when `stored` was made with weaker parameters (or a shorter key) than ours,
    /// or cannot be read: the caller should store a fresh hash after a successful login.
    public func needsRehash(_ stored: String) -> Bool {
        guard let decoded = try? Self.decode(stored) else { return true }
        let p = decoded.parameters
        return p.n < parameters.n || p.r < parameters.r || p.p < parameters.p || decoded.key.count < keyLength
    }

    /// The parameters a stored hash was made with.
    public static func parameters(of stored: String) throws(AuthTokenError) -> Parameters {
        try decode(stored).parameters
    }

    static func decode(_ stored: String) throws(AuthTokenError) -> (parameters: Parameters, salt: [UInt8], key: [UInt8]) {
        let fields = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "scrypt",
            let n = UInt64(fields[1]), let r = UInt64(fields[2]), let p = UInt64(fields[3]),
            let salt = Base64.decode(fields[4]), let key = Base64.decode(fields[5]),
            salt.count >= 8, key.count >= 16, key.count <= 64
        else { throw AuthTokenError(.malformedHash) }
        let parameters = Parameters(n: n, r: r, p: p)
        guard parameters.isSane else { throw AuthTokenError(.malformedHash, reason: "parameters out of range") }
        return (parameters, salt, key)
    }

    static func derive(_ password: String, salt: [UInt8], parameters: Parameters, keyLength: Int) throws(AuthTokenError) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: keyLength)
        let password = Array(password.utf8)
        // Scoped pointers: all three buffers outlive the synchronous EVP_PBE_scrypt call.
        let rc = password.withUnsafeBufferPointer { pass in
            salt.withUnsafeBufferPointer { saltBuffer in
                key.withUnsafeMutableBufferPointer { out in
                    pass.withMemoryRebound(to: CChar.self) { passChars in
                        EVP_PBE_scrypt(
                            passChars.baseAddress, passChars.count, saltBuffer.baseAddress, saltBuffer.count,
                            parameters.n, parameters.r, parameters.p, parameters.maxMemory,
                            out.baseAddress, out.count)
                    }
                }
            }
        }
        guard rc == 1 else { throw AuthTokenError(.crypto, reason: "EVP_PBE_scrypt") }
        return key
    }
}

extension PasswordHasher {
    /// Raw scrypt, for tests against RFC 7914's vectors.
    public static func deriveForTests(_ password: String, salt: [UInt8], n: UInt64, r: UInt64, p: UInt64) throws(AuthTokenError) -> [UInt8] {
        try derive(password, salt: salt, parameters: Parameters(n: n, r: r, p: p), keyLength: 64)
    }
}
