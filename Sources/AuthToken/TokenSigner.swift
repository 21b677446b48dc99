import COpenSSL

#if canImport(Glibc)
import Glibc
#endif

/// What a Marquee access token says: who the caller is, with which role, and for how long.
public struct TokenClaims: Sendable, Equatable {
    /// The user id (JWT `sub` is a string by RFC 7519; ours holds a decimal id).
    public var subject: String
    public var email: String
    /// The role the user had when the token was issued (`role`): `user` or `admin`.
    /// Only a signal: whoever grants admin rights confirms it against the user database.
    public var role: String
    /// The user's token version when the token was issued (`ver`). The user service bumps
    /// the stored version on a password, email or role change, which revokes every older
    /// token; a token without `ver` (issued before versions existed) reads as 0.
    public var version: Int64
    /// Issued-at and expiry, seconds since the epoch.
    public var issuedAt: Int64
    public var expiresAt: Int64

    public init(
        subject: String, email: String, role: String = "user", version: Int64 = 0, issuedAt: Int64,
        expiresAt: Int64
    ) {
        self.subject = subject
        self.email = email
        self.role = role
        self.version = version
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }

    /// `subject` as a user id, when it is a positive decimal integer.
    public var userID: Int64? {
        guard let id = Int64(subject), id > 0, String(id) == subject else { return nil }
        return id
    }
}

/// Signs and verifies HS256 JWTs (RFC 7519 with RFC 7515's HMAC-SHA256) with one secret.
///
/// Why our own and not a library: the format is three base64url parts and one HMAC, and a
/// verifier that accepts exactly one algorithm cannot be talked into `none` or into using
/// the secret as an RSA key. Pure and thread-safe: call it from any thread.
public struct TokenSigner: Sendable {
    private let secret: [UInt8]
    /// Tolerated clock difference for `iat` in the future, seconds.
    public var clockSkew: Int64 = 60

    /// The fixed header `{"alg":"HS256","typ":"JWT"}`, encoded once.
    static let encodedHeader = Base64.encodeURL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    /// - Parameter secret: the shared `AUTH_SECRET`; must not be empty.
    public init(secret: String) {
        precondition(!secret.isEmpty, "AUTH_SECRET must not be empty")
        self.secret = Array(secret.utf8)
    }

    /// Seconds since the epoch, from the real-time clock.
    public static func now() -> Int64 { Int64(time(nil)) }

    /// A signed token for `claims`.
    public func sign(_ claims: TokenClaims) -> String {
        var json = Array("{\"sub\":".utf8)
        FlatJSON.appendString(claims.subject, to: &json)
        json.append(contentsOf: Array(",\"email\":".utf8))
        FlatJSON.appendString(claims.email, to: &json)
        json.append(contentsOf: Array(",\"role\":".utf8))
        FlatJSON.appendString(claims.role, to: &json)
        json.append(contentsOf: Array(",\"ver\":\(claims.version),\"iat\":\(claims.issuedAt),\"exp\":\(claims.expiresAt)}".utf8))
        let signingInput = Self.encodedHeader + "." + Base64.encodeURL(json)
        return signingInput + "." + Base64.encodeURL(mac(Array(signingInput.utf8)))
    }

    /// A token for user `userID` valid for `lifetime` seconds from `now`.
    public func sign(
        userID: Int64, email: String, role: String = "user", version: Int64 = 0, lifetime: Int64,
        now: Int64 = TokenSigner.now()
    ) -> String {
        sign(
            TokenClaims(
                subject: String(userID), email: email, role: role, version: version, issuedAt: now,
                expiresAt: now + lifetime))
    }

    /// The claims of `token` if it is well formed, HS256, correctly signed and unexpired.
    /// - Throws: ``AuthTokenError`` with `.malformed`, `.unsupportedAlgorithm`,
    ///   `.badSignature`, `.expired` or `.notYetValid`.
    public func verify(_ token: some StringProtocol, now: Int64 = TokenSigner.now()) throws(AuthTokenError) -> TokenClaims {
        let utf8 = Array(token.utf8)
        guard utf8.count <= 8192 else { throw AuthTokenError(.malformed, reason: "token too long") }
        let parts = utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw AuthTokenError(.malformed, reason: "expected three parts")
        }
        guard let headerBytes = Base64.decode(String(decoding: parts[0], as: UTF8.self)),
            let header = FlatJSON.parseObject(headerBytes)
        else { throw AuthTokenError(.malformed, reason: "header") }
        // The algorithm check comes before anything else: `none` and RS256 never get further.
        guard header["alg"] == .string("HS256") else {
            throw AuthTokenError(.unsupportedAlgorithm, reason: "only HS256 is accepted")
        }
        if let typ = header["typ"], typ != .string("JWT") {
            throw AuthTokenError(.malformed, reason: "typ")
        }
        guard let signature = Base64.decode(String(decoding: parts[2], as: UTF8.self)), signature.count == 32 else {
            throw AuthTokenError(.badSignature)
        }
        let expected = mac(Array(utf8[0..<(parts[1].endIndex)]))
        let equal = expected.withUnsafeBytes { a in
            signature.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, 32) == 0 }
        }
        guard equal else { throw AuthTokenError(.badSignature) }

        guard let claimsBytes = Base64.decode(String(decoding: parts[1], as: UTF8.self)),
            let claims = FlatJSON.parseObject(claimsBytes)
        else { throw AuthTokenError(.malformed, reason: "claims") }
        guard case .string(let subject)? = claims["sub"] else { throw AuthTokenError(.malformed, reason: "sub") }
        guard case .int(let expiresAt)? = claims["exp"] else { throw AuthTokenError(.malformed, reason: "exp") }
        guard case .int(let issuedAt)? = claims["iat"] else { throw AuthTokenError(.malformed, reason: "iat") }
        var email = ""
        if case .string(let value)? = claims["email"] { email = value }
        var role = "user"
        if case .string(let value)? = claims["role"] { role = value }
        var version: Int64 = 0
        if case .int(let value)? = claims["ver"] { version = value }
        guard now < expiresAt else { throw AuthTokenError(.expired) }
        guard issuedAt <= now + clockSkew else { throw AuthTokenError(.notYetValid) }
        return TokenClaims(
            subject: subject, email: email, role: role, version: version, issuedAt: issuedAt, expiresAt: expiresAt)
    }

    /// HMAC-SHA256 of `message` under the secret.
    func mac(_ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        // Scoped pointers: the secret, the message and `out` outlive the one-shot HMAC call.
        secret.withUnsafeBytes { key in
            message.withUnsafeBytes { data in
                out.withUnsafeMutableBytes { digest in
                    _ = HMAC(
                        EVP_sha256(), key.baseAddress, Int32(key.count),
                        data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
                        digest.baseAddress?.assumingMemoryBound(to: UInt8.self), &length)
                }
            }
        }
        precondition(length == 32, "HMAC-SHA256 failed")
        return out
    }
}

extension TokenSigner {
    /// The encoded header, for tests that forge tokens.
    public static var encodedHeaderForTests: String { encodedHeader }

    /// A base64url HMAC of `signingInput`, for tests that build tokens by hand.
    public func signatureForTests(_ signingInput: String) -> String {
        Base64.encodeURL(mac(Array(signingInput.utf8)))
    }
}
