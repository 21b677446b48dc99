import AuthToken
import Gateway

/// Real HS256 tokens for the tests, signed with the secret the gateway under test verifies.
enum GatewayTokens {
    static let verifier = GatewayUnderTest.testTokens
    static let signer = TokenSigner(secret: GatewayUnderTest.testSecret)

    static func token(for userID: Int) -> String {
        signer.sign(userID: Int64(userID), email: "user\(userID)@example.com", lifetime: 3600)
    }

    static func expiredToken(for userID: Int) -> String {
        // Issued two hours ago, expired one hour ago: well past the verifier's clock skew.
        signer.sign(userID: Int64(userID), email: "user\(userID)@example.com", lifetime: 3600, now: TokenSigner.now() - 7200)
    }
}
