import HTTP
import MarqueeTesting
import Reactor
import ServiceKit
import Synchronization
import Testing
import WatchlistService

/// A dead or slow upstream: a bounded wait and a 503/504 whose `detail` names it.
@Suite(.timeLimit(.minutes(10))) struct WatchlistUpstreamFailureTests {
    @Test func movieServiceDownIsAQuick503NamingIt() async throws {
        let port = try await watchlistClosedPort(group: WatchlistHarness.group)
        let harness = try await WatchlistHarness.start(movieServiceURL: "http://127.0.0.1:\(port)")
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)

        let start = monotonicNanoseconds()
        let response = await harness.add(user: base + 1, movie: base + 2)
        let elapsed = watchlistSeconds(since: start)
        #expect(response.status.code == 503)
        // The detail is the cause (a refused connection, not a timeout, which says "timed out");
        // the bound only catches a hang.
        #expect(response.detail == "Movie service unavailable")
        #expect(elapsed < 10, "took \(elapsed) s")

        // The list needs the movie service too; the check does not.
        let list = await harness.call(.GET, "/api/watchlist/user/\(base + 1)")
        #expect(list.status.code == 200)  // empty list: nothing to enrich, no call
        let check = await harness.call(.GET, "/api/watchlist/user/\(base + 1)/movie/\(base + 2)")
        #expect(check.status.code == 200)
        let text = String(decoding: (await harness.call(.GET, "/metrics")).bodyBytes, as: UTF8.self)
        #expect(text.contains(#"watchlist_upstream_requests_total{upstream="movie-service",outcome="unavailable"} 1"#))
    }

    @Test func aMissingUserWinsOverAMovieServiceOutage() async throws {
        let port = try await watchlistClosedPort(group: WatchlistHarness.group)
        let harness = try await WatchlistHarness.start(movieServiceURL: "http://127.0.0.1:\(port)")
        defer { Task { await harness.stop() } }
        let response = await harness.add(user: WatchlistHarness.uniqueIDBase() + 1, movie: 2)
        #expect(response.status.code == 404)
        #expect(response.detail == "User not found")
    }

    @Test func movieServiceStallingIsA504NamingItWithinTheTimeout() async throws {
        let harness = try await WatchlistHarness.start(upstreamTimeout: .milliseconds(300))
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        harness.movies.setDelay(.seconds(5))

        let start = monotonicNanoseconds()
        let response = await harness.add(user: base + 1, movie: base + 2)
        let elapsed = watchlistSeconds(since: start)
        #expect(response.status.code == 504)
        // The cause: the watchlist's own 0.3 s timeout fired (not before it), not the movie
        // service's answer after its 5 s delay.
        #expect(response.detail == "Movie service timed out")
        #expect(elapsed >= 0.3)
        #expect(elapsed < 4.5, "took \(elapsed) s for a 0.3 s timeout (the upstream answers after 5 s)")
    }

    @Test func aStalledBatchIsA504ForTheList() async throws {
        let harness = try await WatchlistHarness.start(upstreamTimeout: .milliseconds(300))
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        #expect(await harness.add(user: base + 1, movie: base + 2).status.code == 201)
        harness.movies.setDelay(.seconds(5))

        // Each ends by the watchlist's 0.3 s timeout, not by the upstream's answer after 5 s.
        var start = monotonicNanoseconds()
        let list = await harness.call(.GET, "/api/watchlist/user/\(base + 1)")
        #expect(list.status.code == 504)
        #expect(list.detail == "Movie service timed out")
        #expect(watchlistSeconds(since: start) < 4.5)
        start = monotonicNanoseconds()
        let export = await harness.call(.GET, "/api/watchlist/user/\(base + 1)/export")
        #expect(export.status.code == 504)
        #expect(export.detail == "Movie service timed out")
        #expect(watchlistSeconds(since: start) < 4.5)
    }

    @Test func userServiceDownIsA503NamingIt() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.movies.addMovie(base + 2)
        harness.users.stop()
        try await Task.sleep(for: .milliseconds(50))
        let response = await harness.add(user: base + 1, movie: base + 2)
        #expect(response.status.code == 503)
        #expect(response.detail == "User service unavailable")
    }

    /// Regression test: the batch is a POST, which the HTTP client never repeats by itself,
    /// so a pooled connection the movie service had closed (idle timeout, restart) failed
    /// the list with a 502.
    @Test func aBatchOnAStaleKeepAliveConnectionIsRepeated() async throws {
        let server = try await ClosingMovieService.start(on: WatchlistHarness.group.loops[0])
        let harness = try await WatchlistHarness.start(movieServiceURL: "http://127.0.0.1:\(server.port)")
        defer {
            server.stop()
            Task { await harness.stop() }
        }
        let base = WatchlistHarness.uniqueIDBase()
        try TestServers.postgres().psql(
            "INSERT INTO watchlist (user_id, movie_id) VALUES (\(base + 1), \(base + 2))",
            database: "watchlist_service_tests")

        for round in 1...3 {
            let list = await harness.call(.GET, "/api/watchlist/user/\(base + 1)")
            #expect(list.status.code == 200, "round \(round): \(list.detail ?? "")")
            #expect(list.jsonBody?.arrayValue?.first?["movie"] == .null)
            // The server closes its side 30 ms after answering: the pooled connection goes stale.
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(server.connections.load(ordering: .relaxed) == 3)
    }
}

/// A movie service that answers one batch per connection (`[]`, keep-alive promised) and
/// then closes the connection without a word, as a server's idle timeout does.
final class ClosingMovieService: Sendable {
    let listener: TCPListener
    let loop: EventLoop
    let connections = Atomic<Int>(0)
    var port: Int { listener.localAddress.port }

    private init(listener: TCPListener, loop: EventLoop) {
        self.listener = listener
        self.loop = loop
    }

    static func start(on loop: EventLoop) async throws -> ClosingMovieService {
        let listener = try await Task(executorPreference: loop) {
            try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop, reusePort: false)
        }.value
        let server = ClosingMovieService(listener: listener, loop: loop)
        Task(executorPreference: loop) {
            while let socket = try? await listener.accept() {
                server.connections.add(1, ordering: .relaxed)
                Task(executorPreference: loop) { await server.answerOnce(socket) }
            }
        }
        return server
    }

    private func answerOnce(_ socket: TCPSocket) async {
        defer { socket.close() }
        var received: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        // Read the head and its Content-Length body.
        while !Self.isComplete(received) {
            guard let count = try? await socket.read(into: buffer), count > 0 else { return }
            received.append(contentsOf: buffer[..<count])
        }
        let body = "[]"
        let response =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        try? await socket.write(Array(response.utf8))
        try? await loop.sleep(for: .milliseconds(30))
    }

    private static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        var length = 0
        for line in text[..<end.lowerBound].split(separator: "\r\n")
        where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingPrefix(" ")) ?? 0
        }
        return text.utf8.distance(from: end.upperBound.samePosition(in: text.utf8)!, to: text.utf8.endIndex) >= length
    }

    func stop() {
        loop.execute { self.listener.close() }
    }
}
