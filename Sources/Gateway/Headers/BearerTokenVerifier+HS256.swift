import AuthToken

extension BearerTokenVerifier {
    /// Verifies HS256 JWTs signed with `secret` (module AuthToken: signature compared in
    /// constant time, `alg` other than HS256 refused, expiry checked), taking `sub` as the
    /// user id that goes upstream in `X-User-ID`.
    public static func hs256(secret: String) -> BearerTokenVerifier {
        let signer = TokenSigner(secret: secret)
        return BearerTokenVerifier { token in
            guard let claims = try? signer.verify(token), let userID = claims.userID else { return nil }
            return String(userID)
        }
    }
}
