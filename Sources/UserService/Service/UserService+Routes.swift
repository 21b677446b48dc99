import HTTP
import ServiceKit
import Telemetry

extension UserService {
    /// The service's routes (ServiceKit's responder adds `/health` and `/metrics`).
    public var router: ServiceRouter {
        var router = ServiceRouter()
        router.post("/api/users") { try await self.createUser($0) }
        router.get("/api/users") { try await self.listUsers($0) }
        router.get("/api/users/{user_id:id}") { try await self.getUser($0) }
        router.put("/api/users/{user_id:id}") { try await self.updateUser($0) }
        router.patch("/api/users/{user_id:id}") { try await self.updateUser($0) }
        router.delete("/api/users/{user_id:id}") { try await self.deleteUser($0) }
        router.post("/api/auth/login") { try await self.login($0) }
        router.get("/api/auth/me") { try await self.me($0) }
        return router
    }

    // MARK: Users

    /// `POST /api/users`: sign-up, open to anyone (a token that is sent must still be valid).
    ///
    /// The email is checked before the password is hashed: a taken address is a 409 at the
    /// cost of one indexed lookup, so a flood of sign-ups reusing one address costs no
    /// scrypt (the unique index still settles two sign-ups racing for a new address).
    ///
    /// With an `Idempotency-Key`, a sign-up sent again is answered with the user the first
    /// one created (201), looked up before the email check that would answer it 409.
    func createUser(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        try admitByRate(request)
        let caller = try authenticator.authenticate(request)
        let (object, idempotency) = try await request.decodeJSONObjectAndKey(caller: caller?.userID)
        let input = try NewUser(object)
        let store = store
        let replay = { @Sendable (id: Int64) async throws -> HTTPServerResponse in
            guard let user = try await store.find(id: id) else { throw ServiceError.notFound("User") }
            return Self.created(user)
        }
        if let idempotency, let answer = try await store.keys.previousAnswer(for: idempotency, replay: replay) {
            return answer
        }
        if try await store.emailTaken(input.email) {
            // Taken since the lookup above, perhaps by a request with the same key running at
            // the same moment (the user and its key are stored in one statement): its answer.
            if let idempotency, let answer = try await store.keys.previousAnswer(for: idempotency, replay: replay) {
                return answer
            }
            throw UserStore.duplicateEmail
        }
        let hash = try await hashing.hash(input.password)
        return try await store.keys.perform(
            idempotency,
            execute: {
                let user = try await store.create(
                    name: input.name, email: input.email, passwordHash: hash, remembering: idempotency)
                logger.info("user created", metadata: ["user_id": .stringConvertible(user.id)])
                return Self.created(user)
            }, replay: replay)
    }

    static func created(_ user: User) -> HTTPServerResponse {
        .json(.created, user.jsonBytes, headers: ["Location": "/api/users/\(user.id)"])
    }

    /// `GET /api/users`: everyone's records, so only for admins once a caller is known
    /// (always with `AUTH_REQUIRED=true`; with `false`, only when a token is sent), the
    /// role read from the database, not from the token.
    func listUsers(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        try await authenticator.authorizeAdminIfKnown(request)
        let page = try Pagination(request)
        let (users, total) = try await store.list(limit: page.limit, offset: page.offset)
        var json = JSONWriter(capacity: 64 + users.count * 160)
        json.array { list in for user in users { list.value(user) } }
        var response = HTTPServerResponse.json(.ok, json.bytes)
        response.setTotalCount(total)
        return response
    }

    func getUser(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let id = try userID(request)
        let caller = try authorizeSelf(request, id)
        guard let user = try await store.find(id: id) else {
            // The caller's own record is gone: their token is revoked, not a 404.
            if caller != nil { throw Self.revokedToken }
            throw ServiceError.notFound("User")
        }
        if let caller, caller.tokenVersion != user.tokenVersion { throw Self.revokedToken }
        return .json(.ok, user.jsonBytes)
    }

    /// `PUT` and `PATCH`: any non-empty subset of name, email, password; a new email or
    /// password also needs `current_password` (403 when it is wrong, throttled like a
    /// login), and revokes the user's earlier tokens.
    func updateUser(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let id = try userID(request)
        let caller = try authorizeSelf(request, id)
        if let caller { try await requireCurrent(caller) }
        let update = try UserUpdate(try await request.decodeJSONObject())
        var verifiedHash: String?
        if update.changesCredentials, let currentPassword = update.currentPassword {
            verifiedHash = try await verifyCurrentPassword(currentPassword, userID: id, request: request)
        }
        var hash: String?
        if let password = update.password { hash = try await hashing.hash(password) }
        guard
            let user = try await store.update(
                id: id, name: update.name, email: update.email, passwordHash: hash, expectedHash: verifiedHash)
        else { throw ServiceError.notFound("User") }
        logger.info(
            "user updated",
            metadata: ["user_id": .stringConvertible(user.id), "revoked_tokens": .stringConvertible(update.changesCredentials)])
        return .json(.ok, user.jsonBytes)
    }

    /// Checks `password` against user `id`'s stored hash, charged to the login throttle
    /// (by the account's email and the client) so that a stolen token cannot be used to
    /// guess the password at scrypt speed.
    /// - Returns: the stored hash that matched (the update is conditional on it).
    /// - Throws: 404 no such user, 429 throttled, 403 wrong password.
    private func verifyCurrentPassword(_ password: String, userID id: Int64, request: HTTPServerRequest)
        async throws -> String
    {
        guard let (user, storedHash) = try await store.credentials(id: id) else { throw ServiceError.notFound("User") }
        let client = clientAddress.resolve(request)
        if let wait = throttler.attempt(email: user.email, client: client) {
            throw ServiceError.tooManyRequests(
                retryAfter: LoginThrottler.retryAfterSeconds(wait),
                detail: "Too many failed password checks, try again later")
        }
        let matches: Bool
        do {
            matches = try await hashing.verify(password, against: storedHash, client: client)
        } catch {
            throttler.refund(email: user.email, client: client)  // not decided: not a failure
            throw error
        }
        guard matches else {
            logger.info("current password check failed", metadata: ["user_id": .stringConvertible(id)])
            throw ServiceError.forbidden("Current password is incorrect")
        }
        throttler.succeeded(email: user.email, client: client)
        return storedHash
    }

    /// `DELETE`: the user row and an outbox row in one transaction; the relay then tells
    /// the watchlist service (see ``DeletionRelay``).
    func deleteUser(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let id = try userID(request)
        if let caller = try authorizeSelf(request, id) { try await requireCurrent(caller) }
        guard try await store.delete(id: id, traceparent: RequestContext.current?.trace.traceparent) else {
            throw ServiceError.notFound("User")
        }
        relay.nudge()
        logger.info("user deleted", metadata: ["user_id": .stringConvertible(id)])
        return HTTPServerResponse(status: .noContent)
    }

    /// The `{user_id:id}` path parameter (the router already refused anything but a positive integer with 422).
    func userID(_ request: HTTPServerRequest) throws -> Int64 {
        Int64(try request.parameters.int("user_id"))
    }

    static let revokedToken = ServiceError.unauthorized("Token revoked")

    /// 429 with `Retry-After` when the client started too many sign-ups or logins lately
    /// (see ``ClientRateLimiter``).
    func admitByRate(_ request: HTTPServerRequest) throws(ServiceError) {
        guard let wait = authRate.admit(clientAddress.resolve(request)) else { return }
        counters.rateLimited.increment()
        throw ServiceError.tooManyRequests(
            retryAfter: LoginThrottler.retryAfterSeconds(wait), detail: "Too many requests, try again later")
    }

    /// A caller may touch only their own record: 401 without a token when auth is required
    /// or with a bad token, 403 for someone else's id (checked before the record is looked
    /// up, so a 403 says nothing about which ids exist).
    /// - Returns: the caller, when a token was sent (its version is not checked yet).
    @discardableResult
    func authorizeSelf(_ request: HTTPServerRequest, _ id: Int64) throws(ServiceError) -> AuthContext? {
        let caller = try authenticator.authorizeCaller(request)
        if let caller, caller.userID != id {
            throw ServiceError.forbidden("Not allowed to access another user's data")
        }
        return caller
    }

    /// 401 unless the caller's token is still current (see ``StoredTokenConfirmer``).
    func requireCurrent(_ caller: AuthContext) async throws(ServiceError) {
        guard try await tokens.currentUser(of: caller) != nil else { throw Self.revokedToken }
    }
}
