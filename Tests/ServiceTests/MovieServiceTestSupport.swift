import HTTP
import Logging
import MarqueeTesting
import MovieService
import Reactor
import ServiceKit
import Telemetry

/// A movie service started in-process for a test, called without sockets through its
/// responder (ServiceKit's middleware included: request ids, /health, /metrics).
struct MovieServiceHarness {
    let service: MovieService
    let responder: ServiceResponder
    let group: EventLoopGroup

    /// A fresh service (its own metrics, so counts are the test's own) on a shared database.
    static func start(
        databaseURL: String, redisURL: String, ttl: CacheTTLs = CacheTTLs(),
        authenticator: Authenticator = Authenticator(secret: nil, required: false),
        redisCommandTimeout: Duration = .milliseconds(500)
    ) async throws -> MovieServiceHarness {
        let group = try EventLoopGroupHolder.shared()
        let logger = Logger(service: MovieService.name, level: .error)
        let service = try await MovieService.start(
            MovieService.Options(
                databaseURL: databaseURL, redisURL: redisURL, ttl: ttl, redisCommandTimeout: redisCommandTimeout),
            group: group,
            logger: logger, authenticator: authenticator)
        _ = await service.redis.waitUntilConnected(timeout: .seconds(5))
        return MovieServiceHarness(service: service, responder: service.responder(), group: group)
    }

    func call(
        _ method: HTTPMethod, _ target: String, json: String? = nil, headers: HTTPHeaders = [:], loop: Int = 0
    ) async -> HTTPServerResponse {
        var headers = headers
        if json != nil { headers.replaceOrAdd(name: "Content-Type", value: "application/json") }
        return await responder.call(
            method, target, headers: headers, body: json.map { Array($0.utf8) } ?? [], on: group.loops[loop])
    }

    /// Creates a movie and returns its id.
    func create(
        title: String = "Inception", director: String? = "Christopher Nolan", year: Int = 2010,
        genre: String = "Sci-Fi", rating: Double? = 8.8
    ) async throws -> Int64 {
        let directorJSON = director.map { "\"\($0)\"" } ?? "null"
        let ratingJSON = rating.map { "\($0)" } ?? "null"
        let response = await call(
            .POST, "/api/movies",
            json: #"{"title": "\#(title)", "director": \#(directorJSON), "year": \#(year), "genre": "\#(genre)", "rating": \#(ratingJSON)}"#)
        guard response.status == .created, case .int(let id)? = response.jsonBody?["id"] else {
            throw TestServerError("create failed: \(response.status.code) \(String(decoding: response.bodyBytes, as: UTF8.self))")
        }
        return id
    }

    /// The sum of a metric's samples in `/metrics` (all label sets).
    func metric(_ name: String) async -> Double {
        let text = String(decoding: await call(.GET, "/metrics").bodyBytes, as: UTF8.self)
        var total = 0.0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard line.hasPrefix(name + " ") || line.hasPrefix(name + "{") else { continue }
            if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
        }
        return total
    }

    func shutdown() async { await service.shutdown() }
}

extension HTTPServerResponse {
    var text: String { String(decoding: bodyBytes, as: UTF8.self) }
}
