import HTTP
import Logging
import MarqueeTesting
import Reactor
import ServiceKit
import Synchronization
import Telemetry
import Testing

@testable import UserService

/// A stand-in for the watchlist service's `DELETE /internal/users/{user_id}/watchlist`:
/// records the user ids it was asked about, and answers `status` (204 normally).
final class WatchlistStub: Sendable {
    /// What the stub's handler shares with the test.
    final class State: Sendable {
        let calls = Mutex<[Int]>([])
        let status = Atomic<Int>(204)
    }

    let state = State()
    let server: HTTPServer

    init(port: Int, group: EventLoopGroup) {
        var router = Router()
        let state = self.state
        router.delete("/internal/users/{user_id:int}/watchlist") { request in
            let id = try request.parameters.int("user_id")
            state.calls.withLock { $0.append(id) }
            let code = state.status.load(ordering: .relaxed)
            return HTTPServerResponse(
                status: HTTPStatus(code: code), body: code == 204 ? .empty : .bytes(Array(#"{"detail":"down"}"#.utf8)))
        }
        server = HTTPServer(configuration: HTTPServerConfiguration(port: port), group: group, responder: router)
    }

    var delivered: [Int] { state.calls.withLock { $0 } }

    func answer(_ code: Int) { state.status.store(code, ordering: .relaxed) }
}

/// A port nothing listens on (bound, read, released): connections to it are refused until
/// a stub takes it.
func unusedPort(on loop: EventLoop) async throws -> Int {
    try await withTaskExecutorPreference(loop) { @concurrent in
        guard let address = SocketAddress(numericHost: "127.0.0.1", port: 0) else { return 0 }
        let listener = try TCPListener(address: address, on: loop)
        let port = listener.localAddress.port
        listener.close()
        return port
    }
}

@Suite(.timeLimit(.minutes(10))) struct UserServiceOutboxTests {
    @Test func aDeletionWhileTheWatchlistServiceIsDownIsDeliveredOnceItIsBack() async throws {
        let group = try EventLoopGroupHolder.shared()
        let port = try await unusedPort(on: group.loops[1])
        let service = try await UserServiceTestSupport.start(database: "us_outbox") { configuration in
            configuration.relay = DeletionRelay.Configuration(watchlistServiceURL: "http://127.0.0.1:\(port)/")
            configuration.relay.pollInterval = .milliseconds(200)
            configuration.relay.backoff = RetryBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))
            configuration.relay.requestTimeout = .seconds(1)
        }
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        let postgres = try TestServers.postgres()
        func outbox() throws -> String {
            try postgres.psql(
                "SELECT user_id, delivered_at IS NOT NULL, attempts > 0 FROM user_deletions ORDER BY id",
                database: "us_outbox")
        }

        let gone = await client.createUser(email: "gone@example.org")
        let kept = await client.createUser(email: "kept@example.org")
        #expect(await client.send(.DELETE, "/api/users/\(gone)").status.code == 204)
        // The watchlist service is down: the deletion waits in the outbox, attempted and undelivered.
        #expect(await eventually { try outbox() == "\(gone)|f|t" })
        #expect(service.relay.delivered.load(ordering: .relaxed) == 0)
        #expect(service.relay.failedAttempts.load(ordering: .relaxed) > 0)

        // It comes back: the relay delivers by itself, once, and marks the row.
        let stub = WatchlistStub(port: port, group: group)
        try await stub.server.start()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await stub.server.run() }
            #expect(await eventually { try outbox() == "\(gone)|t|t" })
            #expect(stub.delivered == [Int(gone)])

            // A later deletion goes out at once (nudged, not polled), and answers that are
            // not 2xx count as failures to retry.
            stub.answer(503)
            #expect(await client.send(.DELETE, "/api/users/\(kept)").status.code == 204)
            #expect(await eventually { stub.delivered.count >= 3 })
            #expect(try outbox().hasSuffix("\(kept)|f|t"))
            stub.answer(204)
            #expect(await eventually { try outbox() == "\(gone)|t|t\n\(kept)|t|t" })
            #expect(Set(stub.delivered) == [Int(gone), Int(kept)])
            stub.server.shutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func pendingDeletionsSurviveARestartOfTheUserService() async throws {
        let group = try EventLoopGroupHolder.shared()
        let port = try await unusedPort(on: group.loops[0])
        func configure(_ configuration: inout UserService.Configuration) {
            configuration.relay = DeletionRelay.Configuration(watchlistServiceURL: "http://127.0.0.1:\(port)")
            configuration.relay.pollInterval = .milliseconds(100)
            configuration.relay.backoff = RetryBackoff(initial: .milliseconds(20), maximum: .milliseconds(100))
        }
        let first = try await UserServiceTestSupport.start(database: "us_outbox_restart", configure: configure)
        let id = await UserServiceClient(first).createUser(email: "r@example.org")
        #expect(await UserServiceClient(first).send(.DELETE, "/api/users/\(id)").status.code == 204)
        await first.shutdown()

        let stub = WatchlistStub(port: port, group: group)
        try await stub.server.start()
        // A new process on the same database (not recreated) finds the row and delivers it.
        let url = try TestServers.postgres().url(database: "us_outbox_restart")
        var configuration = UserService.Configuration(databaseURL: url, authSecret: UserServiceTestSupport.secret)
        configure(&configuration)
        let second = try await UserService.start(
            configuration: configuration, group: group, logger: Logger(service: UserService.name, sink: LogCapture().sink))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await stub.server.run() }
            #expect(await eventually { stub.delivered == [Int(id)] })
            stub.server.shutdown()
            try await tasks.waitForAll()
        }
        await second.shutdown()
    }
}
