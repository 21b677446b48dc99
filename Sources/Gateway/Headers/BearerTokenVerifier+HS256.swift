extension BearerTokenVerifier {
    /// Verifies HS256 JWTs signed with `secret` (AuthToken), taking `sub` as the user id.
    /// Placeholder until AuthToken lands on main: refuses every token.
    public static func hs256(secret: String) -> BearerTokenVerifier {
        .refuseAll
    }
}
