import MarqueeTesting
import Reactor
import Synchronization
import Testing

@testable import HTTP

/// What a server with ``HTTPServerConfiguration/cancelsAbandonedRequests`` does when a client
/// goes away while its handler runs: the handler's task is cancelled (a wait for a hash, a
/// pool, a timer ends) and its answer dropped; everything else serves as before.
@Suite("HTTP server: requests whose clients have gone", .serialized, .timeLimit(.minutes(5)))
final class ServerClientGoneTests {
    /// What the `/wait` handlers saw: how many started, how many were cancelled.
    final class Seen: Sendable {
        let started = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
    }

    let server: HTTPServer
    let loop: EventLoop
    let seen = Seen()

    init() async throws {
        let group = try EventLoopGroupHolder.shared()
        loop = group.loops[0]
        var router = Router()
        let seen = seen
        router.get("/hello") { _ in .json(.ok, Array(#"{"hello":true}"#.utf8)) }
        // Waits far longer than any test: only a cancellation ends it early.
        router.get("/wait") { request in
            seen.started.add(1, ordering: .relaxed)
            do {
                try await request.loop.sleep(for: .seconds(60))
            } catch {
                seen.cancelled.add(1, ordering: .relaxed)
                throw error
            }
            return .json(.ok, Array(#"{"waited":true}"#.utf8))
        }
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.cancelsAbandonedRequests = true
        configuration.http2 = HTTP2ServerConfiguration()
        server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        let server = server
        Task { await server.run() }
    }

    deinit { server.shutdown() }

    /// Sends `request` on a new connection; returns the socket (the caller closes it).
    private static func send(_ request: String, port: Int, loop: EventLoop) async throws -> TCPSocket {
        let address = try #require(SocketAddress(numericHost: "127.0.0.1", port: port))
        return try await withTaskExecutorPreference(loop) { @concurrent in
            let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(5))
            try await socket.write(Array(request.utf8))
            return socket
        }
    }

    @Test func aClientThatClosesWhileItsHandlerWaitsCancelsIt() async throws {
        let startedBefore = seen.started.load(ordering: .relaxed)
        let cancelledBefore = seen.cancelled.load(ordering: .relaxed)
        let port = server.localPort
        let loop = loop
        let sockets = try await withThrowingTaskGroup(of: TCPSocket.self) { group in
            for _ in 0..<5 {
                group.addTask { try await Self.send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n", port: port, loop: loop) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(await eventually { self.seen.started.load(ordering: .relaxed) - startedBefore == 5 })
        await withTaskExecutorPreference(loop) { @concurrent in for socket in sockets { socket.close() } }
        // Their waits were 60 s: only the cancellation ends them within the bound.
        #expect(
            await eventually(timeout: .seconds(20)) { self.seen.cancelled.load(ordering: .relaxed) - cancelledBefore == 5 },
            "\(seen.cancelled.load(ordering: .relaxed) - cancelledBefore) of 5 handlers cancelled")
        #expect(try await get("/hello") == 200, "the server serves on")
    }

    @Test func anHTTP2ClientThatGivesUpCancelsItsHandler() async throws {
        let cancelledBefore = seen.cancelled.load(ordering: .relaxed)
        // curl gives up after a second and closes the connection.
        let result = try ChildProcess.run(
            "/usr/bin/curl",
            ["-sS", "--http2-prior-knowledge", "--max-time", "1", "http://127.0.0.1:\(server.localPort)/wait"])
        #expect(result.status == 28, "curl timed out: \(result.output)")
        #expect(await eventually(timeout: .seconds(20)) { self.seen.cancelled.load(ordering: .relaxed) > cancelledBefore })
    }

    @Test func keepAliveAndPipelinedRequestsAreAnsweredAsBefore() async throws {
        let pipelined = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
        let client = RawHTTPClient(port: server.localPort, loop: loop)
        let both = try await client.exchange([pipelined], expected: 2)
        #expect(both.responses.map(\.head.status.code) == [200, 200])
        let sequential = try await client.exchange(
            ["GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"],
            pause: .milliseconds(50), expected: 2)
        #expect(sequential.responses.map(\.head.status.code) == [200, 200])
    }

    private func get(_ path: String) async throws -> Int {
        let client = RawHTTPClient(port: server.localPort, loop: loop)
        let result = try await client.exchange(["GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"], expected: 1)
        return result.responses.first?.head.status.code ?? 0
    }
}
