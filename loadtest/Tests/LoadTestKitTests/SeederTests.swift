import HTTP
import Reactor
import Synchronization
import Testing

@testable import LoadTestKit

/// The seeder against an API of our own HTTP server, in-process over loopback, that refuses
/// sign-ups with 503 + `Retry-After: 0` as the user service does when its hashing queue is full.
@Suite("loadtest seeder", .serialized, .timeLimit(.minutes(3)))
final class SeederTests {
    static let group = try! EventLoopGroup(loopCount: 1)
    let server: HTTPServer
    let signUps = SignUps()

    /// Sign-up attempts seen, and how many of them to refuse before accepting one.
    final class SignUps: Sendable {
        let state = Mutex<(attempts: Int, refuse: Int)>((0, 0))
    }

    init() async throws {
        var router = Router()
        let signUps = signUps
        for path in ["/api/movies", "/api/users"] {
            router.get(path) { _ in .json(.ok, Array("[]".utf8), headers: ["X-Total-Count": "0"]) }
        }
        router.post("/api/users") { _ in
            let refused = signUps.state.withLock { state -> Bool in
                state.attempts += 1
                return state.attempts <= state.refuse
            }
            if refused {
                return .json(.serviceUnavailable, Array(#"{"detail":"busy"}"#.utf8), headers: ["Retry-After": "0"])
            }
            return .json(.created, Array(#"{"id":1}"#.utf8))
        }
        server = HTTPServer(configuration: HTTPServerConfiguration(port: 0), group: Self.group, responder: router)
        try await server.start()
        let server = server
        Task { await server.run() }
    }

    deinit { server.shutdown() }

    private func seedOneUser(refusing refuse: Int, retryDeadline: Duration) async throws -> Seeder.Summary {
        signUps.state.withLock { $0 = (0, refuse) }
        let target = HTTP1Target(url: try TargetURL("http://127.0.0.1:\(server.localPort)"), transport: Transports.plain)
        let plan = Seeder.Plan(movies: 0, users: 1, perUser: 0, concurrency: 1, retryDeadline: retryDeadline)
        return try await Seeder(target: target, plan: plan).run(on: Self.group.loops) { _ in }
    }

    /// A sign-up refused more often than any fixed number of tries a seeder might allow, yet
    /// admitted within the deadline, is created.
    @Test func aSignUpRefusedManyTimesIsCreatedWithinTheDeadline() async throws {
        let summary = try await seedOneUser(refusing: 60, retryDeadline: .seconds(60))
        #expect(summary.usersCreated == 1 && summary.failures == 0, "\(summary.firstFailure ?? "")")
        #expect(signUps.state.withLock { $0.attempts } == 61)
    }

    /// One that stays refused fails at the deadline, naming the 503.
    @Test func aSignUpRefusedPastTheDeadlineFails() async throws {
        let summary = try await seedOneUser(refusing: .max, retryDeadline: .seconds(1))
        #expect(summary.usersCreated == 0 && summary.failures == 1)
        #expect(summary.firstFailure?.contains("HTTP 503") == true, "\(summary.firstFailure ?? "")")
    }
}
