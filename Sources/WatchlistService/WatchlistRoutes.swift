import HTTP
import Postgres
import ServiceKit

/// The watchlist service's handlers (API.md, "Watchlist"), and the internal endpoint the
/// user service's outbox relay calls when a user is deleted.
///
/// Authorization follows ServiceKit's ``Authenticator``: per-user reads and writes call
/// `authorizeSelf` (with `AUTH_REQUIRED=true` a token is needed and must name that user;
/// with `false` a token is optional, but one that is sent still limits the caller to
/// their own data). `GET /api/watchlist/movie/{movie_id}` lists every user's entries for a
/// movie (the seed's "who added this movie", with every user's id), so it is for admins
/// whenever a caller is known, like the list of all users. `/internal/...` is not routed
/// by the gateway and carries no token.
struct WatchlistRoutes: Sendable {
    let store: WatchlistStore
    let upstreams: Upstreams
    let authenticator: Authenticator

    /// Export pages are bigger than list pages by default: an export means "all of it",
    /// up to the movie service's batch limit (1000 ids per call).
    static let defaultExportLimit = Pagination.maxLimit

    func register(on router: inout ServiceRouter) {
        router.post("/api/watchlist") { try await add($0) }
        router.get("/api/watchlist/user/{user_id:id}") { try await list($0) }
        router.get("/api/watchlist/user/{user_id:id}/export") { try await export($0) }
        router.get("/api/watchlist/user/{user_id:id}/movie/{movie_id:id}") { try await check($0) }
        router.delete("/api/watchlist/user/{user_id:id}/movie/{movie_id:id}") { try await removeMovie($0) }
        router.get("/api/watchlist/movie/{movie_id:id}") { try await listForMovie($0) }
        router.delete("/api/watchlist/{entry_id:id}") { try await removeEntry($0) }
        router.delete("/internal/users/{user_id:id}/watchlist") { try await removeUser($0) }
    }

    // MARK: POST /api/watchlist

    /// Checks the user and the movie concurrently, then inserts; the UNIQUE constraint
    /// settles racing duplicates (exactly one 201, the others 409).
    ///
    /// When both checks finish, a definite 404 wins over the other check's failure (a
    /// missing user is missing whatever the movie service says), the user before the movie.
    /// With an `Idempotency-Key`, an add sent again is answered with the entry the first
    /// one created (201) instead of 409.
    func add(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let (object, idempotency) = try await request.decodeJSONObjectAndKey(
            caller: try authenticator.authenticate(request)?.userID)
        var fields = JSONFields(object)
        let userField = fields.int("user_id", range: 1...Int64.max)
        let movieField = fields.int("movie_id", range: 1...Int64.max)
        let (userID, movieID) = try fields.finish(userField, movieField)
        try authenticator.authorizeSelf(request, userID: userID)

        async let userCheck = upstreams.userExists(
            userID, headers: Upstreams.forwardedHeaders(from: request, includingAuthorization: true))
        async let movieCheck = upstreams.movieExists(
            movieID, headers: Upstreams.forwardedHeaders(from: request, includingAuthorization: false))
        let (user, movie) = await (userCheck, movieCheck)
        if case .success(false) = user { throw ServiceError.notFound("User") }
        if case .success(false) = movie { throw ServiceError.notFound("Movie") }
        _ = try user.get()
        _ = try movie.get()

        let store = store
        return try await store.keys.perform(idempotency) {
            let added: WatchlistEntry?
            do {
                added = try await store.add(userID: userID, movieID: movieID, remembering: idempotency)
            } catch let error as PostgresError where error.code == .uniqueViolation {
                throw ServiceError.conflict("Movie already in watchlist")
            }
            // Deleted between the user service's answer and the insert.
            guard let entry = added else { throw ServiceError.notFound("User") }
            return .json(.created, entry.jsonBytes)
        } replay: { id in
            guard let entry = try await store.entry(id: id) else { throw ServiceError.notFound("Watchlist entry") }
            return .json(.created, entry.jsonBytes)
        }
    }

    // MARK: GET /api/watchlist/user/{user_id}

    /// A page of the user's entries, newest first, each with its movie's summary (or null):
    /// one watchlist query and one batch call for the page's distinct movies.
    func list(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let userID = Int64(try request.parameters.int("user_id"))
        try authenticator.authorizeSelf(request, userID: userID)
        let page = try Pagination(request)
        let result = try await store.entries(userID: userID, page: page)
        let movies = try await movies(for: result.entries, request: request)

        var json = JSONWriter(capacity: 64 + result.entries.count * 200)
        json.array { list in
            for entry in result.entries {
                list.object { item in
                    entry.writeFields(to: &item)
                    item.key(WatchlistEntry.keys.movie)
                    movies.writeSummary(of: entry.movieID, to: &item)
                }
            }
        }
        var response = HTTPServerResponse.json(.ok, json.bytes)
        response.setTotalCount(result.total)
        return response
    }

    // MARK: GET /api/watchlist/user/{user_id}/export

    /// `{"user_id","exported_at","count","movies":[movie + "added_at"],"missing_movie_ids"}`,
    /// newest first, again with one batch call. `count` is the number of movies exported;
    /// entries whose movie no longer exists are listed in `missing_movie_ids` instead.
    /// Takes `limit` (default and maximum 1000: the batch endpoint's limit) and `offset`,
    /// with `X-Total-Count` giving the number of entries on the whole list.
    func export(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let userID = Int64(try request.parameters.int("user_id"))
        try authenticator.authorizeSelf(request, userID: userID)
        var query = ParameterFields(query: request)
        let limit = query.int("limit", default: Int64(Self.defaultExportLimit), range: 1...Int64(Pagination.maxLimit))
        let offset = query.int("offset", default: 0, range: 0...Int64(Int32.max) * 1024)
        let (pageLimit, pageOffset) = try query.finish(limit, offset)
        let page = Pagination(limit: Int(pageLimit), offset: Int(pageOffset))

        let result = try await store.entries(userID: userID, page: page)
        let movies = try await movies(for: result.entries, request: request)
        let exportedAt = Timestamp.now()

        var exported: [WatchlistEntry] = []
        var missing: [Int64] = []
        for entry in result.entries {
            if movies.contains(entry.movieID) {
                exported.append(entry)
            } else {
                missing.append(entry.movieID)
            }
        }
        var json = JSONWriter(capacity: 128 + result.entries.count * 300)
        json.object { body in
            body.field("user_id", userID)
            body.field("exported_at", exportedAt)
            body.field("count", exported.count)
            body.key("movies")
            body.array { list in
                for entry in exported {
                    list.object { item in
                        movies.writeMembers(of: entry.movieID, excluding: "added_at", to: &item)
                        item.field("added_at", entry.addedAt)
                    }
                }
            }
            body.key("missing_movie_ids")
            body.array { list in for id in missing { list.value(id) } }
        }
        var response = HTTPServerResponse.json(.ok, json.bytes)
        response.setTotalCount(result.total)
        return response
    }

    /// The movies of `entries`, in one batch call for their distinct ids (none when empty).
    private func movies(for entries: [WatchlistEntry], request: HTTPServerRequest) async throws -> MovieBatch {
        guard !entries.isEmpty else { return MovieBatch.empty }
        return try await upstreams.movies(
            Self.distinct(entries.map(\.movieID)),
            headers: Upstreams.forwardedHeaders(from: request, includingAuthorization: false))
    }

    /// `ids` each once, in the order first given. A list holds a movie once, so a sorted
    /// copy that shows no repeat (no hashing) is the usual answer.
    static func distinct(_ ids: [Int64]) -> [Int64] {
        var sorted = ids
        sorted.sort()
        guard sorted.indices.dropFirst().contains(where: { sorted[$0] == sorted[$0 - 1] }) else { return ids }
        var seen = Set<Int64>(minimumCapacity: ids.count)
        return ids.filter { seen.insert($0).inserted }
    }

    // MARK: GET /api/watchlist/user/{user_id}/movie/{movie_id}

    func check(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let userID = Int64(try request.parameters.int("user_id"))
        let movieID = Int64(try request.parameters.int("movie_id"))
        try authenticator.authorizeSelf(request, userID: userID)
        let entry = try await store.entry(userID: userID, movieID: movieID)
        var json = JSONWriter(capacity: 128)
        json.object { body in
            body.field("user_id", userID)
            body.field("movie_id", movieID)
            body.field("in_watchlist", entry != nil)
            body.field("entry_id", entry?.id)
            body.field("added_at", entry?.addedAt)
        }
        return .json(.ok, json.bytes)
    }

    // MARK: GET /api/watchlist/movie/{movie_id}

    func listForMovie(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let movieID = Int64(try request.parameters.int("movie_id"))
        try await authenticator.authorizeAdminIfKnown(request)
        let page = try Pagination(request)
        let result = try await store.entries(movieID: movieID, page: page)
        var json = JSONWriter(capacity: 16 + result.entries.count * 100)
        json.array { list in for entry in result.entries { list.value(entry) } }
        var response = HTTPServerResponse.json(.ok, json.bytes)
        response.setTotalCount(result.total)
        return response
    }

    // MARK: DELETE /api/watchlist/{entry_id}

    /// One query when it succeeds: without a caller it deletes by id; with one it deletes
    /// only the caller's entry, and looks again only to tell 403 from 404 when nothing went.
    func removeEntry(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let entryID = Int64(try request.parameters.int("entry_id"))
        let caller = try authenticator.authorizeCaller(request)
        if try await store.delete(entryID: entryID, ownedBy: caller?.userID) {
            return HTTPServerResponse(status: .noContent)
        }
        if caller != nil, try await store.owner(ofEntry: entryID) != nil {
            throw ServiceError.forbidden("Not allowed to access another user's data")
        }
        throw ServiceError.notFound("Watchlist entry")
    }

    // MARK: DELETE /api/watchlist/user/{user_id}/movie/{movie_id}

    func removeMovie(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let userID = Int64(try request.parameters.int("user_id"))
        let movieID = Int64(try request.parameters.int("movie_id"))
        try authenticator.authorizeSelf(request, userID: userID)
        guard try await store.delete(userID: userID, movieID: movieID) else {
            throw ServiceError.notFound("Watchlist entry")
        }
        return HTTPServerResponse(status: .noContent)
    }

    // MARK: DELETE /internal/users/{user_id}/watchlist

    /// The user service's outbox relay, after a user was deleted: removes all of that
    /// user's entries. Always 204 (idempotent: the relay retries until it gets one).
    func removeUser(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let userID = Int64(try request.parameters.int("user_id"))
        try await store.deleteAll(userID: userID)
        return HTTPServerResponse(status: .noContent)
    }
}
