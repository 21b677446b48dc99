import HTTP

/// Reads `Authorization: Bearer <token>` and asks a verifier who the caller is.
///
/// The verification itself is AuthToken's HS256 check (``BearerTokenVerifier/hs256(secret:)``);
/// the closure keeps this type testable and the header rules in one place.
public struct BearerTokenVerifier: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// No bearer token: forwarded without `X-User-ID`.
        case absent
        /// A valid token for this user id (the JWT `sub`).
        case valid(userID: String)
        /// A bearer token that is malformed, badly signed or expired: 401.
        case invalid
    }

    /// Returns the token's subject, or nil when the token is not valid.
    private let verify: @Sendable (Substring) -> String?

    public init(verify: @escaping @Sendable (Substring) -> String?) {
        self.verify = verify
    }

    /// A verifier that refuses every token (no `AUTH_SECRET` configured).
    public static let refuseAll = BearerTokenVerifier { _ in nil }

    /// The verdict for a request's headers. Another scheme (`Basic`) counts as absent and
    /// is passed on untouched; so is an `Authorization` the services may understand.
    public func verdict(for headers: HTTPHeaders) -> Verdict {
        guard let value = headers[.authorization] else { return .absent }
        let trimmed = value.utf8.drop(while: { $0 == UInt8(ascii: " ") })
        guard trimmed.count > 7,
            trimmed.prefix(7).map({ $0 | 0x20 }) == Array("bearer ".utf8)
        else { return .absent }
        let token = Substring(trimmed.dropFirst(7)).drop(while: { $0 == " " })
        guard !token.isEmpty, let subject = verify(token), !subject.isEmpty, RequestID.isValid(subject) else {
            return .invalid
        }
        return .valid(userID: subject)
    }
}
