import HTTP
import Logging
import ServiceKit

extension UserService {
    static let invalidCredentials = ServiceError.unauthorized("Invalid email or password")

    /// `POST /api/auth/login` → `{"access_token","token_type":"bearer","expires_in","user"}`.
    ///
    /// An unknown email and a wrong password get the same 401 after the same work: one
    /// database lookup and one scrypt computation (against a dummy hash when there is no
    /// such user), both off the loop. Rate-limited per client address, and throttled per
    /// email from a client and per client address: 429 with `Retry-After`, answered before
    /// any hashing.
    func login(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        try admitByRate(request)
        let input = try LoginRequest(try await request.decodeJSONObject())
        let client = clientAddress.resolve(request)
        if let wait = throttler.attempt(email: input.email, client: client) {
            counters.loginThrottled.increment()
            logger.warning("login throttled", metadata: clientField(client))
            throw ServiceError.tooManyRequests(
                retryAfter: LoginThrottler.retryAfterSeconds(wait),
                detail: "Too many failed login attempts, try again later")
        }
        let found: (user: User, passwordHash: String)?
        let matches: Bool
        do {
            found = try await store.credentials(email: input.email)
            if let found {
                matches = try await hashing.verify(input.password, against: found.passwordHash, client: client)
            } else {
                matches = try await hashing.verifyDummy(input.password, client: client)
            }
        } catch {
            // Not decided (hashing queue full, database down): not a failure of the caller's.
            throttler.refund(email: input.email, client: client)
            throw error
        }
        guard matches, let (user, storedHash) = found else {
            counters.loginFailed.increment()
            logger.info("login failed", metadata: clientField(client))
            throw Self.invalidCredentials
        }
        throttler.succeeded(email: input.email, client: client)
        counters.loginSucceeded.increment()
        if hashing.needsRehash(storedHash) {
            // The cost was raised since this hash was made: store a stronger one now that we
            // know the password. A failure here must not fail the login.
            if let stronger = try? await hashing.hash(input.password) {
                try? await store.upgradePasswordHash(id: user.id, from: storedHash, to: stronger)
            }
        }
        let token = signer.sign(
            userID: user.id, email: user.email, role: user.role.rawValue, version: user.tokenVersion,
            lifetime: configuration.tokenTTL)
        var json = JSONWriter(capacity: 512)
        json.object { body in
            body.field("access_token", token)
            body.field("token_type", "bearer")
            body.field("expires_in", configuration.tokenTTL)
            body.field("user", user)
        }
        logger.info("login succeeded", metadata: ["user_id": .stringConvertible(user.id)])
        // RFC 6749 §5.1: responses carrying tokens are not cached.
        return .json(.ok, json.bytes, headers: ["Cache-Control": "no-store", "Pragma": "no-cache"])
    }

    /// `GET /api/auth/me`: the caller's own record, with their current role; 401 without a
    /// valid token (whatever `AUTH_REQUIRED` says), and 401 when the token was revoked since
    /// (the user was deleted, or changed password, email or role). The other services call
    /// it to confirm an admin's token (``RemoteTokenConfirmer``).
    func me(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let caller = try authenticator.requireUser(request)
        guard let user = try await tokens.currentUser(of: caller) else { throw Self.revokedToken }
        return .json(.ok, user.jsonBytes)
    }

    private func clientField(_ client: String?) -> Logger.Metadata {
        client.map { ["client": .string($0)] } ?? [:]
    }
}
