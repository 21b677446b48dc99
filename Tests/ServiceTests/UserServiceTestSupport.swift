import AuthToken
import HTTP
import Logging
import MarqueeTesting
import Reactor
import ServiceKit
import Synchronization
import Telemetry
import Testing

@testable import UserService

/// Starting a user service in-process on a fresh database, and calling it without a socket.
enum UserServiceTestSupport {
    /// Cheap scrypt (N = 2^10) for tests that do not measure hashing: the stored format
    /// and the code path are the same as with the production cost.
    static let cheapHasher = PasswordHasher(parameters: PasswordHasher.Parameters(n: 1 << 10, r: 8, p: 1))
    static let secret = "user-service-test-secret-0123456789abcdef"

    /// A started service on a new database called `database`.
    static func start(
        database: String, logs: LogCapture = LogCapture(),
        configure: (inout UserService.Configuration) -> Void = { _ in }
    ) async throws -> UserService {
        let url = try TestServers.postgres().createDatabase(named: database)
        var configuration = UserService.Configuration(
            databaseURL: url, authSecret: secret, hasher: cheapHasher, startupTimeout: .seconds(10))
        configuration.relay.pollInterval = .milliseconds(200)
        configuration.relay.backoff = RetryBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        configure(&configuration)
        let logger = Logger(service: UserService.name, level: .debug, sink: logs.sink)
        return try await UserService.start(
            configuration: configuration, group: try EventLoopGroupHolder.shared(), logger: logger)
    }
}

/// Calls a service's responder the way the server would, on one of the group's loops.
struct UserServiceClient: Sendable {
    let service: UserService
    var loop: EventLoop

    init(_ service: UserService, loop: Int = 0) {
        self.service = service
        self.loop = service.group.loops[loop % service.group.loops.count]
    }

    func send(
        _ method: HTTPMethod, _ target: String, json: String? = nil, token: String? = nil,
        headers: HTTPHeaders = [:]
    ) async -> HTTPServerResponse {
        var headers = headers
        if json != nil && !headers.contains(name: "Content-Type") {
            headers.add(name: "Content-Type", value: "application/json")
        }
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        return await service.responder.call(
            method, target, headers: headers, body: json.map { Array($0.utf8) } ?? [], on: loop)
    }

    /// Creates a user and returns its id (records an issue unless 201).
    func createUser(name: String = "Ann", email: String, password: String = "secret123") async -> Int64 {
        let response = await send(
            .POST, "/api/users", json: #"{"name":"\#(name)","email":"\#(email)","password":"\#(password)"}"#)
        #expect(response.status.code == 201, "create \(email): \(response.bodyText)")
        return response.jsonBody?["id"]?.intValue ?? 0
    }

    /// Logs in and returns the access token ("" on failure).
    func login(email: String, password: String = "secret123", headers: HTTPHeaders = [:]) async -> String {
        let response = await send(
            .POST, "/api/auth/login", json: #"{"email":"\#(email)","password":"\#(password)"}"#, headers: headers)
        #expect(response.status.code == 200, "login \(email): \(response.bodyText)")
        return response.jsonBody?["access_token"]?.stringValue ?? ""
    }
}

extension HTTPServerResponse {
    var bodyText: String { String(decoding: bodyBytes, as: UTF8.self) }

    /// The `loc` paths of a 422's issues, as `body.email`.
    var issueLocations: [String] {
        guard let issues = jsonBody?["detail"]?.arrayValue else { return [] }
        return issues.map { issue in
            (issue["loc"]?.arrayValue ?? []).map { element in
                element.stringValue ?? element.intValue.map(String.init) ?? "?"
            }.joined(separator: ".")
        }
    }

    var issueTypes: [String] {
        (jsonBody?["detail"]?.arrayValue ?? []).compactMap { $0["type"]?.stringValue }
    }
}
