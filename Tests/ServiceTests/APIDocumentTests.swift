import Gateway
import HTTP
import MarqueeTesting
import MovieService
import ServiceKit
import Testing
import UserService
import WatchlistService

/// The OpenAPI document (served at `/openapi.json`) against the code: every route a service
/// registers and the gateway forwards is documented, every documented operation exists, and
/// every documented path is routed by the gateway to the service that serves it.
@Suite(.timeLimit(.minutes(3))) struct APIDocumentTests {
    /// `"GET /api/users/{user_id}"` for every operation the document lists.
    static func documentedOperations() throws -> Set<String> {
        let document = try JSONParser.parse(OpenAPIDocument.json)
        #expect(document["openapi"]?.stringValue == "3.1.0")
        let paths = try #require(document["paths"]?.objectValue)
        var operations = Set<String>()
        for (path, item) in paths {
            for key in try #require(item.objectValue).keys where Self.methods.contains(key) {
                operations.insert(key.uppercased() + " " + path)
            }
        }
        return operations
    }

    static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    /// `{user_id:id}` → `{user_id}`: the document names parameters without their type.
    static func documentPath(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            guard segment.hasPrefix("{"), let colon = segment.firstIndex(of: ":") else { return String(segment) }
            return String(segment[..<colon]) + "}"
        }.joined(separator: "/")
    }

    /// A concrete path for a documented one: `{asset}` becomes a real file, any other `{name}` 1.
    static func samplePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment == "{asset}" ? "docs.js" : segment.hasPrefix("{") ? "1" : String(segment)
        }.joined(separator: "/")
    }

    /// The services' routes as the gateway exposes them: `/api/...` as registered, and
    /// ServiceKit's `GET /health` as `/api/health/<service>`; `/internal/...` and `/metrics`
    /// are not routed by the gateway.
    static func serviceOperations() async throws -> [UpstreamService: Set<String>] {
        try await serviceRoutes.value
    }

    /// The services, started once for the suite (each test needs the same tables).
    static let serviceRoutes = Task { try await readServiceRoutes() }

    private static func readServiceRoutes() async throws -> [UpstreamService: Set<String>] {
        let postgres = try TestServers.postgres()
        let users = try await UserServiceTestSupport.start(database: "api_document_users")
        let movies = try await MovieServiceHarness.start(
            databaseURL: try postgres.createDatabase(named: "api_document_movies"),
            redisURL: try TestServers.redis().url + "/12")
        let watchlist = try await WatchlistHarness.start(
            databaseURL: try postgres.createDatabase(named: "api_document_watchlist"))
        let tables: [UpstreamService: [(method: HTTPMethod, pattern: String)]] = [
            .users: users.router.routes, .movies: movies.service.definition.router.routes,
            .watchlist: watchlist.definition.router.routes,
        ]
        await users.shutdown()
        await movies.service.shutdown()
        await watchlist.stop()

        var operations: [UpstreamService: Set<String>] = [:]
        for (service, routes) in tables {
            var set: Set<String> = ["GET /api/health/\(service.rawValue)"]
            for route in routes where !route.pattern.hasPrefix("/internal/") {
                set.insert(route.method.rawValue + " " + documentPath(route.pattern))
            }
            operations[service] = set
        }
        return operations
    }

    @Test func documentListsExactlyTheRoutesThatExist() async throws {
        let documented = try Self.documentedOperations()
        let services = try await Self.serviceOperations()
        let ownOperations = Set(RouteTable.ownPaths.map { "GET " + $0 })
        let existing = services.values.reduce(ownOperations) { $0.union($1) }
        #expect(
            existing.subtracting(documented).isEmpty,
            "routes the OpenAPI document lacks: \(existing.subtracting(documented).sorted())")
        #expect(
            documented.subtracting(existing).isEmpty,
            "documented operations no route serves: \(documented.subtracting(existing).sorted())")
    }

    @Test func gatewayRoutesEveryDocumentedPathWhereItIsServed() async throws {
        let services = try await Self.serviceOperations()
        let table = RouteTable()
        for operation in try Self.documentedOperations().sorted() {
            let path = String(operation.split(separator: " ")[1])
            let decision = table.route(path: Substring(Self.samplePath(path)), query: nil)
            switch decision {
            case .proxy(let service, _):
                #expect(services[service]?.contains(operation) == true, "\(operation) goes to \(service), which does not serve it")
            case .root, .gatewayHealth, .openAPIDocument, .docs:
                #expect(RouteTable.ownPaths.contains(path), "\(operation) is answered by the gateway but not in ownPaths")
            case .notFound, .badTarget:
                Issue.record("\(operation) is documented but the gateway answers \(decision)")
            }
        }
    }

    /// The POSTs whose service stores `Idempotency-Key`s (those the gateway resends with a
    /// key, ``RouteTable/postResend(target:)``) declare the header, and no other operation does.
    @Test func theCreatingPOSTsAndOnlyThemDeclareIdempotencyKey() throws {
        let document = try JSONParser.parse(OpenAPIDocument.json)
        let paths = try #require(document["paths"]?.objectValue)
        let parameter = try #require(document["components"]?["parameters"]?["Idempotency-Key"])
        #expect(parameter["in"]?.stringValue == "header")
        #expect(parameter["schema"]?["maxLength"]?.intValue == Int64(IdempotentRequest.maxLength))
        var declaring = Set<String>()
        for (path, item) in paths {
            for (method, operation) in try #require(item.objectValue) where Self.methods.contains(method) {
                let references = operation["parameters"]?.arrayValue?.compactMap { $0["$ref"]?.stringValue } ?? []
                if references.contains("#/components/parameters/Idempotency-Key") {
                    declaring.insert(method.uppercased() + " " + path)
                }
            }
        }
        let keyed = Set(
            try Self.documentedOperations().filter { operation in
                let parts = operation.split(separator: " ")
                return parts[0] == "POST" && RouteTable.postResend(target: String(parts[1])) == .withKey
            })
        #expect(keyed == ["POST /api/users", "POST /api/movies", "POST /api/watchlist"])
        #expect(declaring == keyed)
    }

    @Test func everyOperationHasAnIDAndEveryResponseCarriesTheRequestID() throws {
        let document = try JSONParser.parse(OpenAPIDocument.json)
        let paths = try #require(document["paths"]?.objectValue)
        let sharedResponses = try #require(document["components"]?["responses"]?.objectValue)
        var operationIDs = Set<String>()
        for (path, item) in paths {
            for (method, operation) in try #require(item.objectValue) where Self.methods.contains(method) {
                let id = try #require(operation["operationId"]?.stringValue, "\(method) \(path) has no operationId")
                #expect(operationIDs.insert(id).inserted, "operationId \(id) is used twice")
                for (status, response) in try #require(operation["responses"]?.objectValue) {
                    var resolved = response
                    if let reference = response["$ref"]?.stringValue {
                        resolved = try #require(sharedResponses[String(reference.split(separator: "/").last ?? "")])
                    }
                    #expect(resolved["headers"]?["X-Request-ID"] != nil, "\(method) \(path) \(status) lacks X-Request-ID")
                }
            }
        }
    }

    /// What the gateway itself may answer on any route it forwards, whatever the service: an
    /// invalid token (401 + `WWW-Authenticate`), its rate limit (429 + `Retry-After`), an
    /// unreachable service (502), its full queue (503 + `Retry-After`), no answer in time (504).
    static let gatewayAnswers: [String: [String]] = [
        "401": ["WWW-Authenticate"], "429": ["Retry-After"], "502": [], "503": ["Retry-After"], "504": [],
    ]

    @Test func everyForwardedOperationDeclaresTheGatewaysOwnAnswers() throws {
        let document = try JSONParser.parse(OpenAPIDocument.json)
        let paths = try #require(document["paths"]?.objectValue)
        let sharedResponses = try #require(document["components"]?["responses"]?.objectValue)
        let table = RouteTable()
        var checked = 0
        for (path, item) in paths {
            guard case .proxy = table.route(path: Substring(Self.samplePath(path)), query: nil) else { continue }
            for (method, operation) in try #require(item.objectValue) where Self.methods.contains(method) {
                checked += 1
                let responses = try #require(operation["responses"]?.objectValue)
                for (status, headers) in Self.gatewayAnswers {
                    guard var response = responses[status] else {
                        Issue.record("\(method) \(path) does not declare \(status)")
                        continue
                    }
                    if let reference = response["$ref"]?.stringValue {
                        response = try #require(sharedResponses[String(reference.split(separator: "/").last ?? "")])
                    }
                    for header in headers {
                        #expect(response["headers"]?[header] != nil, "\(method) \(path) \(status) lacks \(header)")
                    }
                }
            }
        }
        #expect(checked > 20, "only \(checked) forwarded operations found")
    }
}
