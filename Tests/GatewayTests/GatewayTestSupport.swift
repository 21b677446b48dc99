import Gateway
import HTTP
import Logging
import MarqueeTesting
import Reactor
import Synchronization
import TLS
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A service stand-in: the real ``HTTPServer`` and ``Router`` on a free port, answering
/// every `/api/...` path with an echo of what it received, plus a few special routes.
final class TestUpstream: Sendable {
    let name: String
    let server: HTTPServer
    private let runTask: Task<Void, Never>
    private let counter: RequestCounter
    /// Requests the echo and health routes answered.
    var requests: Int { counter.count.load(ordering: .relaxed) }

    var port: Int { server.localPort }
    var url: UpstreamURL { UpstreamURL(host: "127.0.0.1", port: port) }

    private init(name: String, server: HTTPServer, runTask: Task<Void, Never>, counter: RequestCounter) {
        self.name = name
        self.counter = counter
        self.server = server
        self.runTask = runTask
    }

    /// - Parameters:
    ///   - port: 0 for a free one; a fixed one to bring a "dead" instance back.
    ///   - idleTimeout: how long the upstream keeps an idle keep-alive connection.
    static func start(
        name: String, port: Int = 0, idleTimeout: Duration = .seconds(60), healthy: Bool = true
    ) async throws -> TestUpstream {
        let group = try EventLoopGroupHolder.shared()
        let counter = RequestCounter()
        var router = Router()
        router.get("/health") { _ in
            counter.count.add(1, ordering: .relaxed)
            return .json(healthy ? .ok : .serviceUnavailable, Array(#"{"status":"healthy"}"#.utf8))
        }
        router.get("/api/movies/slow") { request in
            try await request.loop.sleep(for: .seconds(2))
            return .json(.ok, Array("{}".utf8))
        }
        router.get("/api/movies/download/{size:int}") { request in
            let size = try request.parameters.int("size")
            return HTTPServerResponse(
                status: .ok, headers: ["Content-Type": "application/octet-stream"],
                body: .stream(length: size) { writer in
                    let piece = [UInt8](repeating: 0x61, count: 64 * 1024)
                    var left = size
                    while left > 0 {
                        let count = min(left, piece.count)
                        try await writer.write(piece[0..<count])
                        left -= count
                    }
                })
        }
        router.get("/api/movies/with-trailers") { _ in
            // Chunked, with a trailer section the gateway must filter before passing it on.
            HTTPServerResponse(
                status: .ok, headers: ["Content-Type": "text/plain", "Trailer": "X-Checksum, Grpc-Status"],
                body: .stream(length: nil) { writer in
                    try await writer.write(Array("streamed ".utf8))
                    try await writer.write(Array("body".utf8))
                    writer.trailers = [
                        "X-Checksum": "sha256-response", "Set-Cookie": "session=planted", "Content-Type": "text/html",
                        "X-Request-ID": "spoofed", "Cache-Control": "no-store", "Grpc-Status": "0",
                    ]
                })
        }
        router.post("/api/movies/upload") { request in
            var total = 0
            while let chunk = try await request.body.next() { total += chunk.count }
            return .json(.ok, Array(#"{"received":\#(total)}"#.utf8))
        }
        for method in [HTTPMethod.GET, .POST, .PUT, .DELETE, .PATCH] {
            router.on(method, "/api/{rest...}") { request in
                counter.count.add(1, ordering: .relaxed)
                let body = try await request.body.collect(upTo: 1 << 20)
                var text = "instance=\(name)\nmethod=\(request.method.rawValue)\ntarget=\(request.head.target)\n"
                text += "body=\(body.count)\n"
                for (field, value) in request.headers { text += "h:\(field.lowercased())=\(value)\n" }
                for (field, value) in request.body.trailers ?? HTTPHeaders() {
                    text += "t:\(field.lowercased())=\(value)\n"
                }
                return HTTPServerResponse(
                    status: .ok,
                    headers: ["Content-Type": "text/plain", "Keep-Alive": "timeout=5", "Proxy-Authenticate": "Basic",
                        "X-Upstream": name, "Server": "test-upstream"],
                    body: .bytes(Array(text.utf8)))
            }
        }
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: port)
        configuration.idleTimeout = idleTimeout
        configuration.parserLimits.maxBodySize = nil
        configuration.drainTimeout = .milliseconds(200)
        let server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        let runTask = Task { await server.run() }
        return TestUpstream(name: name, server: server, runTask: runTask, counter: counter)
    }

    func stop() async {
        server.shutdown()
        await runTask.value
    }

}

final class RequestCounter: Sendable {
    let count = Atomic<Int>(0)
}

/// What the echo upstream saw.
struct Echo {
    var instance = ""
    var method = ""
    var target = ""
    var bodyCount = 0
    var headers: [(name: String, value: String)] = []
    var trailers: [(name: String, value: String)] = []

    init(_ body: [UInt8]) {
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals]
            let value = String(line[line.index(after: equals)...])
            switch key {
            case "instance": instance = value
            case "method": method = value
            case "target": target = value
            case "body": bodyCount = Int(value) ?? -1
            default:
                if key.hasPrefix("h:") { headers.append((String(key.dropFirst(2)), value)) }
                if key.hasPrefix("t:") { trailers.append((String(key.dropFirst(2)), value)) }
            }
        }
    }

    func values(_ name: String) -> [String] { headers.filter { $0.name == name }.map(\.value) }
}

/// A gateway in this process, on free ports, with upstreams given by the test.
final class GatewayUnderTest: Sendable {
    let server: GatewayServer
    private let runTask: Task<Void, Never>
    let client: HTTPClient
    /// The client's `makeTransport` applies to every origin, so HTTPS gets a client of its own.
    let tlsClient: HTTPClient

    var port: Int { server.httpPort }

    private init(server: GatewayServer, runTask: Task<Void, Never>, client: HTTPClient, tlsClient: HTTPClient) {
        self.server = server
        self.runTask = runTask
        self.client = client
        self.tlsClient = tlsClient
    }

    /// The secret the tests sign their tokens with.
    static let testSecret = "gateway-test-secret-0123456789abcdef"

    /// The real HS256 verifier, with the tests' secret.
    static let testTokens = BearerTokenVerifier.hs256(secret: testSecret)

    static func start(
        movies: [UpstreamURL], users: [UpstreamURL]? = nil, watchlist: [UpstreamURL]? = nil,
        tokens: BearerTokenVerifier? = GatewayUnderTest.testTokens, logger: Logger = Logger(label: "gateway"),
        configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) async throws -> GatewayUnderTest {
        let group = try EventLoopGroupHolder.shared()
        var configuration = GatewayConfiguration()
        configuration.port = 0
        configuration.tlsPort = 0
        configuration.loops = group.loops.count
        configuration.accessLog = false
        configuration.rateLimitRPS = 0
        configuration.healthCheckInterval = .zero
        configuration.connectTimeout = .seconds(1)
        configuration.responseTimeout = .seconds(5)
        configuration.shutdownTimeout = .milliseconds(500)
        configuration.upstreams = [.movies: movies, .users: users ?? movies, .watchlist: watchlist ?? movies]
        configure(&configuration)
        let server = try GatewayServer(configuration: configuration, group: group, tokens: tokens, logger: logger)
        try await server.start()
        let runTask = Task { _ = await server.run() }
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.responseTimeout = .seconds(10)
        var tlsConfiguration = clientConfiguration
        tlsConfiguration.makeTransport = { socket, host in
            try await TLSStreamConnector.connect(socket: socket, host: host)
        }
        return GatewayUnderTest(
            server: server, runTask: runTask, client: HTTPClient(group: group, configuration: clientConfiguration),
            tlsClient: HTTPClient(group: group, configuration: tlsConfiguration))
    }

    func stop() async {
        await client.shutdown()
        await tlsClient.shutdown()
        server.shutdown()
        await runTask.value
    }

    /// A request through the gateway, whole response collected.
    func send(
        _ method: HTTPMethod = .GET, _ target: String, headers: HTTPHeaders = [:], body: [UInt8]? = nil,
        https: Bool = false
    ) async throws -> HTTPClientResponse {
        let origin =
            https
            ? HTTPOrigin(scheme: "https", host: "127.0.0.1", port: server.httpsPort ?? 0)
            : HTTPOrigin(host: "127.0.0.1", port: port)
        return try await (https ? tlsClient : client).execute(
            HTTPClientRequest(method: method, origin: origin, target: target, headers: headers, body: body))
    }
}

/// The process's resident set in bytes (VmRSS).
func residentBytes() -> Int {
    guard let text = GatewayConfiguration.readTextFile("/proc/self/status") else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let digits = line.filter(\.isNumber)
        return (Int(digits) ?? 0) * 1024
    }
    return 0
}

/// A port nothing listens on (bound, then closed).
func closedPort() async throws -> Int {
    let loop = try EventLoopGroupHolder.shared().loops[0]
    return try await Task(executorPreference: loop) {
        let listener = try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop, reusePort: false)
        let port = listener.localAddress.port
        listener.close()
        return port
    }.value
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

enum TLSStreamConnector {
    /// The test client's TLS: no verification (the certificate is self-signed).
    static func connect(socket: TCPSocket, host: String) async throws -> any ByteStream {
        try await TLSStream.connect(socket: socket, serverName: host, verify: false)
    }
}
