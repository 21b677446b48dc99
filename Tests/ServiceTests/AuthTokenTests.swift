import AuthToken
import Testing

@Suite(.timeLimit(.minutes(5))) struct AuthTokenTests {
    let signer = TokenSigner(secret: "test-secret")

    @Test func base64RoundTripsAndRejectsJunk() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
            #expect(Base64.decode(Base64.encodeURL(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encodeURL([0xFB, 0xFF]) == "-_8")
        #expect(Base64.decode("Zm9v!") == nil)
        #expect(Base64.decode("Z") == nil)
        #expect(Base64.decode("Zn==") == nil)  // non-zero leftover bits
    }

    @Test func signsAndVerifies() throws {
        let token = signer.sign(userID: 42, email: "a@example.com", lifetime: 3600, now: 1_000_000)
        #expect(token.hasPrefix("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."))
        let claims = try signer.verify(token, now: 1_000_100)
        #expect(claims == TokenClaims(subject: "42", email: "a@example.com", issuedAt: 1_000_000, expiresAt: 1_003_600))
        #expect(claims.userID == 42)
    }

    @Test func knownVector() throws {
        // Made independently with Python: hmac.new(b"test-secret", signing_input, sha256), base64url.
        // Claims {"sub":"7","email":"x@y.z","role":"user","ver":0,"iat":100,"exp":99999999999}.
        let expected = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
            + "eyJzdWIiOiI3IiwiZW1haWwiOiJ4QHkueiIsInJvbGUiOiJ1c2VyIiwidmVyIjowLCJpYXQiOjEwMCwiZXhwIjo5OTk5OTk5OTk5OX0."
            + "-M_GsPyZ04zdJDfsThRBkOcldZSasCxLP_VTDYYD6mg"
        let mine = signer.sign(TokenClaims(subject: "7", email: "x@y.z", issuedAt: 100, expiresAt: 99_999_999_999))
        #expect(mine == expected)
        #expect(try signer.verify(expected, now: 200).subject == "7")
        // A token made before roles and versions existed reads as a plain user at version 0,
        // which no stored version (they start at 1) matches.
        let older = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
            + "eyJzdWIiOiI3IiwiZW1haWwiOiJ4QHkueiIsImlhdCI6MTAwLCJleHAiOjk5OTk5OTk5OTk5fQ."
            + "FoApzkgiBwJKNC3PxYLUaeoBRANi8BUgsr73tua4zuc"
        let claims = try signer.verify(older, now: 200)
        #expect(claims.role == "user" && claims.version == 0)
        let admin = signer.sign(
            TokenClaims(subject: "7", email: "x@y.z", role: "admin", version: 3, issuedAt: 100, expiresAt: 99_999_999_999))
        #expect(try signer.verify(admin, now: 200).role == "admin")
        #expect(try signer.verify(admin, now: 200).version == 3)
    }

    @Test func rejectsTamperedExpiredAndWrongSecret() {
        let token = signer.sign(userID: 1, email: "a@b.co", lifetime: 60, now: 1000)
        var parts = token.split(separator: ".").map(String.init)
        // Tampered claims (user 2) with the old signature.
        parts[1] = Base64.encodeURL(Array(#"{"sub":"2","email":"a@b.co","iat":1000,"exp":1060}"#.utf8))
        #expect(throws: AuthTokenError(.badSignature)) { try signer.verify(parts.joined(separator: "."), now: 1001) }
        #expect(throws: AuthTokenError(.expired)) { try signer.verify(token, now: 1060) }
        #expect(throws: AuthTokenError(.badSignature)) {
            try TokenSigner(secret: "other").verify(token, now: 1001)
        }
        #expect(throws: AuthTokenError(.notYetValid)) { try signer.verify(token, now: 100) }
    }

    @Test func rejectsAlgNoneAndOtherAlgorithms() throws {
        let claims = Base64.encodeURL(Array(#"{"sub":"1","email":"a@b.co","iat":1000,"exp":9999999999}"#.utf8))
        for header in [#"{"alg":"none","typ":"JWT"}"#, #"{"alg":"HS512","typ":"JWT"}"#, #"{"alg":"RS256"}"#,
                       #"{"typ":"JWT"}"#, #"{"alg":"hs256"}"#] {
            let forged = Base64.encodeURL(Array(header.utf8)) + "." + claims + "."
            #expect(throws: AuthTokenError(.unsupportedAlgorithm)) { try signer.verify(forged, now: 1001) }
        }
    }

    @Test(arguments: ["", "abc", "a.b", "a.b.c.d", "..", "e30.e30.", "!!!.e30.AAAA",
                      "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.AAAA"])
    func rejectsMalformed(_ token: String) {
        #expect(throws: AuthTokenError.self) { try signer.verify(token, now: 1) }
    }

    @Test func claimsWithWrongTypesAreMalformed() {
        let header = TokenSigner.encodedHeaderForTests
        for body in [#"{"sub":1,"iat":1,"exp":99999}"#, #"{"sub":"1","iat":1,"exp":"99999"}"#,
                     #"{"sub":"1","iat":1,"exp":1.5}"#, #"{"sub":"1","iat":1,"exp":99999,"x":{}}"#] {
            let input = header + "." + Base64.encodeURL(Array(body.utf8))
            let token = input + "." + signer.signatureForTests(input)
            #expect(throws: AuthTokenError.self) { try signer.verify(token, now: 2) }
        }
    }

    // Small parameters keep the test fast; the defaults are checked for value only.
    let fast = PasswordHasher(parameters: .init(n: 1 << 10, r: 8, p: 1))

    @Test func scryptVerifiesRightAndWrong() throws {
        let stored = try fast.hash("pass123")
        #expect(stored.hasPrefix("scrypt$1024$8$1$"))
        #expect(try fast.verify("pass123", against: stored))
        #expect(try !fast.verify("pass124", against: stored))
        #expect(try !fast.verify("", against: stored))
        #expect(try fast.hash("pass123") != stored)  // fresh salt each time
    }

    @Test func storedParametersAreUsedAndRehashFlagged() throws {
        let stored = try fast.hash("secret!")
        // A hasher with stronger defaults still verifies the old hash from its own parameters...
        let stronger = PasswordHasher(parameters: .init(n: 1 << 11, r: 8, p: 1))
        #expect(try stronger.verify("secret!", against: stored))
        #expect(try PasswordHasher.parameters(of: stored) == .init(n: 1024, r: 8, p: 1))
        // ...and says it should be replaced.
        #expect(stronger.needsRehash(stored))
        #expect(!fast.needsRehash(stored))
        #expect(PasswordHasher.Parameters.standard == .init(n: 32768, r: 8, p: 1))
    }

    @Test func knownScryptVector() throws {
        // RFC 7914 §12's second vector ("password", "NaCl", N=1024, r=8, p=16, 64 bytes),
        // cross-checked with Python's hashlib.scrypt.
        let key = "/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWIurzDZLiKjiG/xCSedmDDaxyevuUqD7m2DYMvfoswGQA=="
        let derived = try PasswordHasher.deriveForTests("password", salt: Array("NaCl".utf8), n: 1024, r: 8, p: 16)
        #expect(Base64.encode(derived) == key)
    }

    @Test(arguments: ["", "scrypt$1024$8$1$AAAA", "bcrypt$1$2$3$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
                      "scrypt$1000$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
                      "scrypt$4194304$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA=="])
    func malformedStoredHashes(_ stored: String) {
        #expect(throws: AuthTokenError(.malformedHash)) { try fast.verify("x", against: stored) }
        #expect(fast.needsRehash(stored))
    }
}
