/// What an `AUTH_SECRET` must be before a process signs or verifies tokens with it.
///
/// Anyone who knows the secret can mint an admin token, so a guessable one is as bad as
/// none: it must hold at least ``minimumLength`` bytes (HS256's key is the SHA-256 block
/// of 256 bits; shorter keys fall to a dictionary search of the token's HMAC), and it must
/// not be, or contain the marker of, a value shipped in this repository's examples
/// (`deploy/env.example`, `deploy/systemd/*.env.example`, `deploy/k8s/secret.example.yaml`),
/// which are public. Every process that takes `AUTH_SECRET` refuses to start otherwise.
public enum AuthSecretPolicy {
    public static let minimumLength = 32

    /// Markers the shipped examples carry; a secret containing one was copied, not generated.
    public static let exampleMarkers = ["CHANGE-ME", "EXAMPLE-ONLY", "REPLACE-ME"]

    /// Why `secret` is refused, or nil when it may be used. The reason never quotes the secret.
    public static func problem(with secret: String) -> String? {
        let upper = secret.uppercased()
        if let marker = exampleMarkers.first(where: { upper.contains($0) }) {
            return "AUTH_SECRET is a shipped example value (it contains \(marker)): generate one with `openssl rand -base64 48`"
        }
        if secret.utf8.count < minimumLength {
            return "AUTH_SECRET must be at least \(minimumLength) bytes (it has \(secret.utf8.count)): generate one with `openssl rand -base64 48`"
        }
        return nil
    }
}
