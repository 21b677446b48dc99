import Gateway
import HTTP
import MarqueeTesting
import Reactor
import Synchronization
import Testing

/// The queue for upstream connections: a burst larger than the pool waits for a connection
/// and is served; past the queue's bound or its deadline the answer is 503 with
/// `Retry-After`, never the 502 of a broken upstream.
@Suite(.serialized, .timeLimit(.minutes(3))) struct GatewayQueueTests {
    @Test func burstLargerThanThePoolIsServedWhole() async throws {
        let upstream = try await HoldingUpstream.start(name: "a")
        let gateway = try await OneLoopGateway.start(movies: [upstream.url]) {
            $0.upstreamMaxConnections = 2
        }
        let statuses = await gateway.concurrentGETs(count: 64, target: "/api/movies/hold/20")
        #expect(statuses == Array(repeating: 200, count: 64))
        #expect(gateway.server.gateway.busyRejections.load(ordering: .relaxed) == 0)
        await gateway.stop()
        await upstream.stop()
    }

    @Test func pastTheQueueBoundAnswers503WithRetryAfter() async throws {
        let upstream = try await HoldingUpstream.start(name: "a")
        let gateway = try await OneLoopGateway.start(movies: [upstream.url]) {
            $0.upstreamMaxConnections = 1
            $0.upstreamQueueSize = 2
            $0.upstreamQueueTimeout = .seconds(30)
        }
        // One request holds the only connection for a second, two wait for it, three find
        // the queue full.
        let responses = await gateway.concurrentResponses(count: 6, target: "/api/movies/hold/1000")
        let served = responses.filter { $0.status == .ok }
        let refused = responses.filter { $0.status == .serviceUnavailable }
        #expect(served.count == 3)
        #expect(refused.count == 3)
        for response in refused {
            #expect(response.headers["retry-after"] == "1")
            #expect(text(response.body) == #"{"detail":"Movie service busy, retry later"}"#)
        }
        #expect(gateway.server.gateway.busyRejections.load(ordering: .relaxed) == 3)
        await gateway.stop()
        await upstream.stop()
    }

    @Test func queueDeadlineAnswers503WithRetryAfter() async throws {
        let upstream = try await HoldingUpstream.start(name: "a")
        let gateway = try await OneLoopGateway.start(movies: [upstream.url]) {
            $0.upstreamMaxConnections = 1
            $0.upstreamQueueTimeout = .milliseconds(200)
        }
        let responses = await gateway.concurrentResponses(count: 3, target: "/api/movies/hold/1500")
        #expect(responses.filter { $0.status == .ok }.count == 1)
        let refused = responses.filter { $0.status == .serviceUnavailable }
        #expect(refused.count == 2)
        #expect(refused.allSatisfy { $0.headers["retry-after"] == "1" })
        await gateway.stop()
        await upstream.stop()
    }

    @Test func queueSettingsParse() throws {
        let parsed = try GatewayConfiguration.parse(
            environment: ["UPSTREAM_QUEUE_SIZE": "50", "UPSTREAM_QUEUE_TIMEOUT": "250ms"],
            arguments: ["--upstream-retry", "false"])
        #expect(parsed.upstreamQueueSize == 50)
        #expect(parsed.upstreamQueueTimeout == .milliseconds(250))
        #expect(parsed.retryIdempotent == false)
        let defaults = try GatewayConfiguration.parse(environment: [:], arguments: [])
        #expect(defaults.upstreamQueueSize >= defaults.maxConnections)
        #expect(defaults.retryIdempotent)
        #expect(throws: GatewayError.self) {
            try GatewayConfiguration.parse(environment: ["UPSTREAM_QUEUE_SIZE": "-1"], arguments: [])
        }
    }
}

/// An upstream that answers `/api/movies/hold/{ms}` after holding it that long, and echoes
/// its name for everything else under `/api/`.
final class HoldingUpstream: Sendable {
    let server: HTTPServer
    private let runTask: Task<Void, Never>
    let served = Atomic<Int>(0)

    var url: UpstreamURL { UpstreamURL(host: "127.0.0.1", port: server.localPort) }

    private init(server: HTTPServer, runTask: Task<Void, Never>) {
        self.server = server
        self.runTask = runTask
    }

    /// - Parameter port: 0 for a free one; a fixed one to bring an instance back (a restart).
    static func start(name: String, port: Int = 0, drainTimeout: Duration = .seconds(5)) async throws -> HoldingUpstream {
        let group = try EventLoopGroupHolder.shared()
        var router = Router()
        let holder = Box()
        router.get("/api/movies/hold/{ms:int}") { request in
            let milliseconds = try request.parameters.int("ms")
            try await request.loop.sleep(for: .milliseconds(milliseconds))
            holder.upstream?.served.add(1, ordering: .relaxed)
            return .json(.ok, Array(#"{"instance":"\#(name)"}"#.utf8))
        }
        for method in [HTTPMethod.GET, .POST, .PUT, .DELETE] {
            router.on(method, "/api/{rest...}") { request in
                let body = try await request.body.collect(upTo: 1 << 20)
                holder.upstream?.served.add(1, ordering: .relaxed)
                // The Idempotency-Key, when there is one, so that tests see which arrived.
                let key = request.headers["Idempotency-Key"].map { #","key":"\#($0)""# } ?? ""
                return .json(.ok, Array(#"{"instance":"\#(name)","body":\#(body.count)\#(key)}"#.utf8))
            }
        }
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: port)
        configuration.drainTimeout = drainTimeout
        let server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        let upstream = HoldingUpstream(server: server, runTask: Task { await server.run() })
        holder.upstream = upstream
        return upstream
    }

    /// Drains (SIGTERM's path): stops accepting, finishes what it accepted.
    func stop() async {
        server.shutdown()
        await runTask.value
    }

    private final class Box: @unchecked Sendable {
        weak var upstream: HoldingUpstream?
    }
}

/// A gateway on a group of its own with one loop, so that its per-loop pool limits are
/// the limits a test counts against.
final class OneLoopGateway: Sendable {
    let server: GatewayServer
    private let runTask: Task<Void, Never>
    let client: HTTPClient

    private init(server: GatewayServer, runTask: Task<Void, Never>, client: HTTPClient) {
        self.server = server
        self.runTask = runTask
        self.client = client
    }

    /// One loop, kept for the test process (stopping a group takes a thread join).
    static let group: EventLoopGroup = {
        do { return try EventLoopGroup(loopCount: 1, affinity: .none) } catch { fatalError("no event loop: \(error)") }
    }()

    static func start(
        movies: [UpstreamURL], configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) async throws -> OneLoopGateway {
        var configuration = GatewayConfiguration()
        configuration.port = 0
        configuration.loops = 1
        configuration.accessLog = false
        configuration.rateLimitRPS = 0
        configuration.healthCheckInterval = .zero
        configuration.connectTimeout = .seconds(1)
        configuration.responseTimeout = .seconds(10)
        configuration.shutdownTimeout = .seconds(2)
        configuration.upstreams = [.movies: movies, .users: movies, .watchlist: movies]
        configure(&configuration)
        let server = try GatewayServer(configuration: configuration, group: group)
        try await server.start()
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.responseTimeout = .seconds(30)
        clientConfiguration.maxConnectionsPerOrigin = 1024
        let client = HTTPClient(group: try EventLoopGroupHolder.shared(), configuration: clientConfiguration)
        return OneLoopGateway(server: server, runTask: Task { _ = await server.run() }, client: client)
    }

    func stop() async {
        await client.shutdown()
        server.shutdown()
        await runTask.value
    }

    var origin: HTTPOrigin { HTTPOrigin(host: "127.0.0.1", port: server.httpPort) }

    /// `count` requests at once, each on a connection of its own; a failed call is a
    /// response with status 0.
    func concurrentResponses(
        count: Int, target: String, method: HTTPMethod = .GET, body: [UInt8]? = nil
    ) async -> [HTTPClientResponse] {
        let client = self.client
        let origin = self.origin
        return await withTaskGroup(of: HTTPClientResponse.self) { group in
            for _ in 0..<count {
                group.addTask {
                    do {
                        return try await client.execute(
                            HTTPClientRequest(method: method, origin: origin, target: target, body: body))
                    } catch {
                        return HTTPClientResponse(head: HTTPResponseHead(status: HTTPStatus(code: 0, reasonPhrase: "\(error)")), body: [])
                    }
                }
            }
            var responses: [HTTPClientResponse] = []
            for await response in group { responses.append(response) }
            return responses
        }
    }

    func concurrentGETs(count: Int, target: String) async -> [Int] {
        await concurrentResponses(count: count, target: target).map(\.status.code).sorted()
    }
}
