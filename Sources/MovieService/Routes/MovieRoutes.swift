import HTTP
import ServiceKit

/// The movie endpoints of API.md, on the service's own port under the gateway's paths.
struct MovieRoutes: Sendable {
    let catalog: MovieCatalog
    let authenticator: Authenticator

    func register(into router: inout ServiceRouter) {
        router.get("/api/movies") { try await list($0) }
        router.post("/api/movies") { try await create($0) }
        router.post("/api/movies/batch") { try await batch($0) }
        router.get("/api/movies/{movie_id:id}") { try await get($0) }
        router.put("/api/movies/{movie_id:id}") { try await update($0) }
        router.patch("/api/movies/{movie_id:id}") { try await update($0) }
        router.delete("/api/movies/{movie_id:id}") { try await delete($0) }
    }

    static let notFound = "Movie not found"

    /// `GET /api/movies/{id}`: the hot path. A hit serves the cached bytes as they are.
    func get(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let id = Int64(try request.parameters.int("movie_id"))
        let (movie, source) = try await catalog.movie(id)
        let xCache = source == .cache ? "HIT" : "MISS"
        guard let movie else {
            throw ServiceError(.notFound, detail: Self.notFound, headers: ["X-Cache": xCache])
        }
        let etag = movie.etag
        if let condition = request.headers["If-None-Match"], MovieETag.matches(ifNoneMatch: condition, etag: etag) {
            return HTTPServerResponse(status: .notModified, headers: ["ETag": etag, "X-Cache": xCache])
        }
        return HTTPServerResponse(
            status: .ok, headers: ["Content-Type": "application/json", "ETag": etag, "X-Cache": xCache],
            body: .bytes(Array(movie.json)))
    }

    /// `GET /api/movies?genre=&limit=&offset=`: ordered by id, whole pages from the list cache.
    func list(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        var fields = ParameterFields(query: request)
        let page = Pagination.read(from: &fields)
        let genre = fields.string("genre")
        let pagination = try fields.finish(page)
        let filter = genre.value.flatMap { $0.isEmpty ? nil : $0 }
        let (listed, source) = try await catalog.list(
            MovieListQuery(genre: filter, limit: pagination.limit, offset: pagination.offset))
        var response = HTTPServerResponse.json(.ok, listed.body)
        response.setTotalCount(listed.total)
        response.headers.replaceOrAdd(name: "X-Cache", value: source == .cache ? "HIT" : "MISS")
        return response
    }

    /// `POST /api/movies/batch {"movie_ids": [...]}`.
    func batch(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        var body = JSONFields(try await request.decodeJSONObject())
        let ids = body.intList("movie_ids", count: MovieRules.batchSize, range: MovieRules.id)
        let movieIDs = try body.finish(ids)
        let movies = try await catalog.movies(ids: movieIDs)
        var out: [UInt8] = []
        out.reserveCapacity(2 + movies.reduce(0) { $0 + $1.json.count + 1 })
        out.append(UInt8(ascii: "["))
        for (index, movie) in movies.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: movie.json)
        }
        out.append(UInt8(ascii: "]"))
        return .json(.ok, out)
    }

    /// `POST /api/movies`; with an `Idempotency-Key`, a request sent again is answered with
    /// the movie the first one created (201, as it is now) instead of creating another.
    func create(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        try await authenticator.authorizeAdmin(request)
        let (object, idempotency) = try await request.decodeJSONObjectAndKey(
            caller: try authenticator.authenticate(request)?.userID)
        let draft = try MovieDraft(object)
        let catalog = catalog
        return try await catalog.repository.keys.perform(idempotency) {
            Self.created(try await catalog.create(draft, remembering: idempotency))
        } replay: { id in
            guard let movie = try await catalog.movie(id).movie else { throw ServiceError.notFound("Movie") }
            return Self.created(movie)
        }
    }

    static func created(_ movie: CachedMovie) -> HTTPServerResponse {
        .json(.created, Array(movie.json), headers: ["Location": "/api/movies/\(movie.id)", "ETag": movie.etag])
    }

    /// `PUT` and `PATCH`: any subset of the fields.
    func update(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let id = Int64(try request.parameters.int("movie_id"))
        try await authenticator.authorizeAdmin(request)
        let patch = try MoviePatch(try await request.decodeJSONObject())
        guard let movie = try await catalog.update(id, patch) else { throw ServiceError.notFound("Movie") }
        return .json(.ok, Array(movie.json), headers: ["ETag": movie.etag])
    }

    func delete(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let id = Int64(try request.parameters.int("movie_id"))
        try await authenticator.authorizeAdmin(request)
        guard try await catalog.delete(id) else { throw ServiceError.notFound("Movie") }
        return HTTPServerResponse(status: .noContent)
    }
}
