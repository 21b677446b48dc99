import HTTP
import MarqueeTesting
import Reactor
import Synchronization
import Testing

@testable import TLS

/// The HTTP server over TLS ends every connection it closes itself with a TLS close_notify,
/// so that a client can tell a complete response from one cut by an attacker or a crash, as
/// nginx does: after a response with `Connection: close`, after a drain, after the idle
/// timeout. Checked with `openssl s_client -msg`, which prints each alert it receives.
@Suite("HTTP server over TLS: close_notify", .serialized, .timeLimit(.minutes(2)))
struct HTTPServerCloseNotifyTests {
    static let certificate = AsyncLazy { try await TestCertificate.make(commonName: "close.test", serial: "C105E") }

    final class Server: Sendable {
        let server: HTTPServer
        let run: Task<Void, Never>
        /// Requests answered so far.
        let answered: AnsweredCount
        var port: Int { server.localPort }

        init(idleTimeout: Duration = .seconds(60)) async throws {
            let certificate = try await HTTPServerCloseNotifyTests.certificate.value()
            let store = try TLSCertificateStore(
                certificatePath: certificate.certificatePath, privateKeyPath: certificate.keyPath)
            let answered = AnsweredCount()
            var router = Router()
            router.get("/hello") { _ in
                answered.value.add(1, ordering: .relaxed)
                return .json(.ok, Array(#"{"hello":"tls"}"#.utf8))
            }
            var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
            configuration.idleTimeout = idleTimeout
            let server = HTTPServer(
                configuration: configuration, group: TLSTestEnvironment.group, responder: router,
                transport: { socket in try await TLSStream.accept(socket: socket, store: store) })
            try await server.start()
            self.server = server
            self.answered = answered
            run = Task { await server.run() }
        }

        final class AnsweredCount: Sendable {
            let value = Atomic<Int>(0)
        }

        func stop() async {
            server.shutdown()
            await run.value
        }
    }

    static func sClient(port: Int, request: String) async throws -> String {
        // -ign_eof: keep reading after stdin ends, until the server closes.
        let result = try await Tool.run(
            Tool.openssl, ["s_client", "-connect", "127.0.0.1:\(port)", "-msg", "-ign_eof"], input: request)
        return result.output
    }

    /// Whether s_client printed an incoming close_notify alert (`<<< TLS 1.3, Alert ...,
    /// warning close_notify`); its own answer is an outgoing one (`>>>`).
    static func receivedCloseNotify(_ output: String) -> Bool {
        output.split(separator: "\n").contains { $0.hasPrefix("<<< ") && $0.contains("close_notify") }
    }

    @Test func responseWithConnectionCloseEndsWithCloseNotify() async throws {
        let server = try await Server()
        let output = try await Self.sClient(
            port: server.port, request: "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(output.contains(#"{"hello":"tls"}"#), "\(output)")
        #expect(Self.receivedCloseNotify(output), "\(output)")
        await server.stop()
    }

    @Test func idleTimeoutEndsWithCloseNotify() async throws {
        let server = try await Server(idleTimeout: .milliseconds(300))
        let output = try await Self.sClient(port: server.port, request: "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(output.contains(#"{"hello":"tls"}"#), "\(output)")
        #expect(Self.receivedCloseNotify(output), "\(output)")
        await server.stop()
    }

    @Test func drainEndsAnIdleConnectionWithCloseNotify() async throws {
        let server = try await Server()
        async let output = Self.sClient(port: server.port, request: "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        // The connection is idle when the drain begins: its request was answered (a condition,
        // not a guessed 500 ms). Connected is not enough: a shutdown closes a connection still
        // in its TLS handshake at once, with nothing to close_notify.
        #expect(await eventually { server.answered.value.load(ordering: .relaxed) == 1 })
        server.server.shutdown()
        let text = try await output
        #expect(text.contains(#"{"hello":"tls"}"#), "\(text)")
        #expect(Self.receivedCloseNotify(text), "\(text)")
        await server.run.value
    }
}
