import HTTP
import ServiceKit

extension UserService {
    /// The service's routes (ServiceKit's responder adds `/health` and `/metrics`).
    public var router: ServiceRouter {
        var router = ServiceRouter()
        router.post("/api/users") { try await self.createUser($0) }
        router.get("/api/users") { try await self.listUsers($0) }
        router.get("/api/users/{user_id:int}") { try await self.getUser($0) }
        router.put("/api/users/{user_id:int}") { try await self.updateUser($0) }
        router.patch("/api/users/{user_id:int}") { try await self.updateUser($0) }
        router.delete("/api/users/{user_id:int}") { try await self.deleteUser($0) }
        router.post("/api/auth/login") { try await self.login($0) }
        router.get("/api/auth/me") { try await self.me($0) }
        return router
    }

    // MARK: Users

    /// `POST /api/users`: sign-up, open to anyone (a token that is sent must still be valid).
    func createUser(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        _ = try authenticator.authenticate(request)
        let input = try NewUser(try await request.decodeJSONObject())
        let hash = try await hashing.hash(input.password)
        let user = try await store.create(name: input.name, email: input.email, passwordHash: hash)
        logger.info("user created", ["user_id": .int(user.id)])
        return .json(.created, user.jsonBytes, headers: ["Location": "/api/users/\(user.id)"])
    }

    /// `GET /api/users`: everyone's records, so only for admins once a caller is known
    /// (always with `AUTH_REQUIRED=true`; with `false`, only when a token is sent).
    func listUsers(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        if let caller = try authenticator.authorizeCaller(request), !caller.isAdmin {
            throw ServiceError.forbidden("Not allowed to list other users")
        }
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
        try authorizeSelf(request, id)
        guard let user = try await store.find(id: id) else { throw ServiceError.notFound("User") }
        return .json(.ok, user.jsonBytes)
    }

    /// `PUT` and `PATCH`: any non-empty subset of name, email, password.
    func updateUser(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let id = try userID(request)
        try authorizeSelf(request, id)
        let update = try UserUpdate(try await request.decodeJSONObject())
        var hash: String?
        if let password = update.password { hash = try await hashing.hash(password) }
        guard let user = try await store.update(id: id, name: update.name, email: update.email, passwordHash: hash)
        else { throw ServiceError.notFound("User") }
        logger.info("user updated", ["user_id": .int(user.id)])
        return .json(.ok, user.jsonBytes)
    }

    /// `DELETE`: the user row and an outbox row in one transaction; the relay then tells
    /// the watchlist service (see ``DeletionRelay``).
    func deleteUser(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let id = try userID(request)
        try authorizeSelf(request, id)
        guard try await store.delete(id: id) else { throw ServiceError.notFound("User") }
        relay.nudge()
        logger.info("user deleted", ["user_id": .int(id)])
        return HTTPServerResponse(status: .noContent)
    }

    /// The `{user_id:int}` path parameter (the router already refused non-integers with 422).
    func userID(_ request: HTTPServerRequest) throws -> Int64 {
        Int64(try request.parameters.int("user_id"))
    }

    /// A caller may touch only their own record: 401 without a token when auth is required
    /// or with a bad token, 403 for someone else's id (checked before the record is looked
    /// up, so a 403 says nothing about which ids exist).
    func authorizeSelf(_ request: HTTPServerRequest, _ id: Int64) throws(ServiceError) {
        try authenticator.authorizeSelf(request, userID: id)
    }
}
