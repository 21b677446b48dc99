import Foundation
import MarqueeTesting
import Testing

@testable import TLS

/// Our server against the reference clients: curl and `openssl s_client`.
@Suite("TLS server against curl and openssl s_client", .timeLimit(.minutes(10)))
struct TLSInteropTests {
    static let certificate = AsyncLazy { try await TestCertificate.make(commonName: "interop.test", serial: "1A7E") }

    private func helloServer() async throws -> TestTLSServer {
        let certificate = try await Self.certificate.value()
        let store = try TLSCertificateStore(
            certificatePath: certificate.certificatePath, privateKeyPath: certificate.keyPath)
        return try await TestTLSServer(store: store, handler: TestTLSServer.hello)
    }

    private static let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    @Test func curlGetsA200OverTLS12WithALPNHTTP11() async throws {
        let server = try await helloServer()
        let result = try await Tool.run(
            Tool.curl, ["-v", "-sS", "--max-time", "10", "--tlsv1.2", "--tls-max", "1.2", "-k",
                        "https://127.0.0.1:\(server.port)/"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("hello over TLSv1.2"), "\(result.output)")
        #expect(result.output.contains("SSL connection using TLSv1.2"), "\(result.output)")
        #expect(result.output.contains("ALPN: server accepted http/1.1"), "\(result.output)")
        await server.close()
    }

    @Test func curlGetsA200OverTLS13() async throws {
        let server = try await helloServer()
        let result = try await Tool.run(
            Tool.curl, ["-v", "-sS", "--max-time", "10", "--tlsv1.3", "-k", "https://127.0.0.1:\(server.port)/"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("hello over TLSv1.3"), "\(result.output)")
        await server.close()
    }

    @Test(arguments: ["-tls1_1", "-tls1"])
    func oldProtocolVersionsAreRefused(_ flag: String) async throws {
        let server = try await helloServer()
        // SECLEVEL=0 so that our own client really offers the old version rather than
        // refusing it before sending anything (which would prove nothing about the server).
        let result = try await Tool.run(
            Tool.openssl,
            ["s_client", "-connect", "127.0.0.1:\(server.port)", flag, "-cipher", "DEFAULT@SECLEVEL=0"],
            input: Self.request)
        #expect(result.status != 0, "\(result.output)")
        #expect(result.output.contains("alert protocol version"), "\(result.output)")
        #expect(!result.output.contains("hello over"))
        // The server records the failure once its side of the handshake ends (a condition, not a guess).
        #expect(await eventually { server.handshakeFailures.contains { $0.code == .handshakeFailed } })
        #expect(server.completedHandshakes == 0)
        await server.close()
    }

    /// Intermediate says "prefer server ciphers: off": the client's first choice among
    /// the allowed suites wins (here ChaCha20, which a client without AES hardware wants).
    @Test func sClientNegotiatesHTTP11AndItsPreferredIntermediateCipher() async throws {
        let server = try await helloServer()
        let result = try await Tool.run(
            Tool.openssl,
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2", "-alpn", "http/1.1", "-ign_eof",
             "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"],
            input: Self.request)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ALPN protocol: http/1.1"), "\(result.output)")
        #expect(result.output.contains("Cipher is ECDHE-ECDSA-CHACHA20-POLY1305"), "\(result.output)")
        #expect(result.output.contains("hello over TLSv1.2"), "\(result.output)")
        await server.close()
    }

    @Test func aCipherOutsideTheIntermediateListIsRefused() async throws {
        let server = try await helloServer()
        let result = try await Tool.run(
            Tool.openssl,
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"],
            input: Self.request)
        #expect(result.status != 0, "\(result.output)")
        #expect(!result.output.contains("hello over"))
        await server.close()
    }

    /// RFC 7301 §3.2: a client whose offer we cannot serve gets no_application_protocol.
    @Test func aClientOfferingOnlyH2GetsNoApplicationProtocol() async throws {
        let server = try await helloServer()
        let result = try await Tool.run(
            Tool.openssl, ["s_client", "-connect", "127.0.0.1:\(server.port)", "-alpn", "h2"], input: Self.request)
        #expect(result.status != 0, "\(result.output)")
        #expect(result.output.contains("no application protocol"), "\(result.output)")
        await server.close()
    }

    @Test func aClientWithoutALPNIsServedHTTP11() async throws {
        let server = try await helloServer()
        let result = try await Tool.run(
            Tool.openssl, ["s_client", "-connect", "127.0.0.1:\(server.port)", "-ign_eof"], input: Self.request)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("No ALPN negotiated"), "\(result.output)")
        #expect(result.output.contains("hello over TLSv1.3"), "\(result.output)")
        await server.close()
    }
}

/// What `openssl s_client` says about the certificate a server presents.
enum ServedCertificate {
    /// The served leaf's `serial=...` and `subject=...` lines.
    static func describe(port: Int) async throws -> String {
        let handshake = try await Tool.run(
            Tool.openssl, ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost"],
            input: "")
        guard let begin = handshake.output.range(of: "-----BEGIN CERTIFICATE-----"),
            let end = handshake.output.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<handshake.output.endIndex)
        else { throw TestFailure("no certificate in s_client output:\n\(handshake.output)") }
        let pem = String(handshake.output[begin.lowerBound..<end.upperBound]) + "\n"
        let details = try await Tool.run(Tool.openssl, ["x509", "-noout", "-serial", "-subject"], input: pem)
        guard details.status == 0 else { throw TestFailure("openssl x509 failed: \(details.output)") }
        return details.output
    }
}
