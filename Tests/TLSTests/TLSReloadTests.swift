import Reactor
import Testing

@testable import TLS

@Suite("Certificate reload (SIGHUP, .timeLimit(.minutes(10))) without dropping connections")
struct TLSReloadTests {
    @Test func reloadServesTheNewCertificateAndKeepsEstablishedConnections() async throws {
        let first = try await TestCertificate.make(commonName: "first.test", serial: "1001")
        let second = try await TestCertificate.make(commonName: "second.test", serial: "2002", rsa: true)
        // The paths the gateway was started with (TLS_CERT, TLS_KEY), holding the first pair.
        let live = try await TestCertificate.make(commonName: "live.test", serial: "0")
        try first.install(certificateAt: live.certificatePath, keyAt: live.keyPath)
        let store = try TLSCertificateStore(certificatePath: live.certificatePath, privateKeyPath: live.keyPath)
        let server = try await TestTLSServer(store: store, handler: TestTLSServer.echo)

        let servedBefore = try await ServedCertificate.describe(port: server.port)
        #expect(servedBefore.contains("serial=1001"), "\(servedBefore)")
        #expect(servedBefore.contains("CN = first.test"), "\(servedBefore)")

        // A connection made before the reload, verified against the first certificate.
        let context = try TLSClientContext(verify: true, caFile: first.certificatePath)
        let established = try await Task(executorPreference: TestClient.loop) {
            try await TLSStream.connect(
                socket: try await TestClient.tcp(port: server.port), context: context, serverName: "127.0.0.1")
        }.value
        let echo: @Sendable (UInt8) async throws -> Bool = { seed in
            try await Task(executorPreference: TestClient.loop) {
                let payload = TestClient.payload(64 << 10, seed: seed)
                return try await TestClient.echo(payload, over: established) == payload
            }.value
        }
        #expect(try await echo(1))

        // Deploy the second pair and reload.
        try second.install(certificateAt: live.certificatePath, keyAt: live.keyPath)
        let reloaded = try await store.reloadInBackground()
        #expect(reloaded.certificateSerial == "2002")
        #expect(try await echo(2))
        let servedAfter = try await ServedCertificate.describe(port: server.port)
        #expect(servedAfter.contains("serial=2002"), "\(servedAfter)")
        #expect(servedAfter.contains("CN = second.test"), "\(servedAfter)")

        // A half-finished deploy (new certificate, old key): the reload throws, the second
        // pair stays in service, and the old connection is still fine.
        try first.install(certificateAt: live.certificatePath, keyAt: nil)
        let error = #expect(throws: TLSError.self) { try store.reload() }
        #expect(error?.code == .keyMismatch)
        #expect(store.current.certificateSerial == "2002")
        let servedAfterFailure = try await ServedCertificate.describe(port: server.port)
        #expect(servedAfterFailure.contains("serial=2002"), "\(servedAfterFailure)")
        #expect(try await echo(3))

        await Task(executorPreference: TestClient.loop) { await established.closeGracefully() }.value
        await server.close()
    }
}
