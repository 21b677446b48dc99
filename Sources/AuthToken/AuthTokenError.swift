/// Why a token or a password hash was refused, or a crypto call failed.
///
/// One public struct with an extensible ``Code``, as every Marquee module has. The
/// description never contains the token, the secret or a password.
public struct AuthTokenError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case malformed, unsupportedAlgorithm, badSignature, expired, notYetValid, malformedHash, crypto
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Not three base64url parts, or a header or claims that are not the JSON we expect.
        public static let malformed = Code(.malformed)
        /// `alg` other than HS256 (including `none`).
        public static let unsupportedAlgorithm = Code(.unsupportedAlgorithm)
        /// The HMAC does not match.
        public static let badSignature = Code(.badSignature)
        /// `exp` has passed.
        public static let expired = Code(.expired)
        /// `iat` lies in the future beyond the allowed clock skew.
        public static let notYetValid = Code(.notYetValid)
        /// A stored password hash that is not `scrypt$N$r$p$salt$hash` with sane parameters.
        public static let malformedHash = Code(.malformedHash)
        /// OpenSSL failed (out of memory, parameters it refuses).
        public static let crypto = Code(.crypto)

        public var description: String {
            switch base {
            case .malformed: "malformed token"
            case .unsupportedAlgorithm: "unsupported algorithm"
            case .badSignature: "bad signature"
            case .expired: "token expired"
            case .notYetValid: "token not yet valid"
            case .malformedHash: "malformed password hash"
            case .crypto: "crypto failure"
            }
        }
    }

    public let code: Code
    /// A short, secret-free reason for logs ("claims: exp is not an integer").
    public let reason: String

    public init(_ code: Code, reason: String = "") {
        self.code = code
        self.reason = reason
    }

    /// Errors compare by code: callers match `error.code == .expired`, and tests by kind,
    /// whatever the reason text says.
    public static func == (lhs: AuthTokenError, rhs: AuthTokenError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { reason.isEmpty ? "\(code)" : "\(code): \(reason)" }
}
