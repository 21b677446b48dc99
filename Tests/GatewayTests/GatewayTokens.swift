import Gateway

/// Tokens for the tests. Until AuthToken lands: `good-<id>` stands for a valid token.
enum GatewayTokens {
    static let verifier = GatewayUnderTest.testTokens
    static func token(for userID: Int) -> String { "good-\(userID)" }
    static func expiredToken(for userID: Int) -> String { "expired-\(userID)" }
}
