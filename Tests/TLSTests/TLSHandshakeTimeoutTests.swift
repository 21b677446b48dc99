import Reactor
import Testing

@testable import TLS

@Suite("Misbehaving clients during the handshake", .timeLimit(.minutes(10)))
struct TLSHandshakeTimeoutTests {
    /// Loops of its own: the timings below must not queue behind the other suites' 1 MiB
    /// echoes, which run in parallel on the shared group.
    static let group = try! EventLoopGroup(loopCount: 2)

    /// Reads from a raw TCP connection until the server closes it; returns how long after
    /// `start` that was seen (ns) and whether it ended by end of stream or reset (as
    /// opposed to our own deadline).
    private static func waitForServerClose(
        _ socket: TCPSocket, since start: UInt64
    ) async -> (nanoseconds: UInt64, closed: Bool) {
        socket.readDeadline = start + 10_000_000_000
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            do {
                if try await socket.read(into: buffer) == 0 { return (monotonicNanoseconds() - start, true) }
            } catch let error as IOError {
                return (monotonicNanoseconds() - start, error.isConnectionLost)
            } catch {
                return (monotonicNanoseconds() - start, false)
            }
        }
    }

    @Test func silentStalledAndGarbageClientsAreClosedWithoutAffectingOthers() async throws {
        let certificate = try await TestCertificate.make(commonName: "timeout.test", serial: "7E")
        let store = try TLSCertificateStore(
            certificatePath: certificate.certificatePath, privateKeyPath: certificate.keyPath)
        let server = try await TestTLSServer(
            store: store, handshakeTimeout: .seconds(2), loop: Self.group.loops[0], handler: TestTLSServer.echo)
        let port = server.port
        let context = try TLSClientContext(verify: false)

        let clientLoop = Self.group.loops[1]
        let payload = TestClient.payload(256 << 10)
        try await Task(executorPreference: clientLoop) {
            // A good client, connected first, keeps echoing while the others misbehave.
            let good = try await TLSStream.connect(
                socket: try await TestClient.tcp(port: port, on: clientLoop), context: context, serverName: nil)
            defer { good.close() }
            #expect(try await TestClient.echo(payload, over: good) == payload)

            let start = monotonicNanoseconds()
            let silent = try await TestClient.tcp(port: port, on: clientLoop)
            defer { silent.close() }
            let stalled = try await TestClient.tcp(port: port, on: clientLoop)
            defer { stalled.close() }
            // A TLS record header announcing a 512-byte ClientHello that never comes.
            try await stalled.write([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            let garbage = try await TestClient.tcp(port: port, on: clientLoop)
            defer { garbage.close() }
            try await garbage.write(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))

            // Garbage fails at once, without waiting for the timeout.
            let (garbageTime, garbageClosed) = await Self.waitForServerClose(garbage, since: start)
            #expect(garbageClosed)
            #expect(garbageTime < 1_500_000_000, "\(garbageTime) ns")

            // The good client is served while the other two wait for their timeout.
            async let silentClose = Self.waitForServerClose(silent, since: start)
            async let stalledClose = Self.waitForServerClose(stalled, since: start)
            #expect(try await TestClient.echo(payload, over: good) == payload)
            let (silentTime, silentClosed) = await silentClose
            let (stalledTime, stalledClosed) = await stalledClose
            #expect(silentClosed && stalledClosed)
            // Measured from before the connections were made, seen when this task got to look.
            #expect(silentTime >= 1_950_000_000 && silentTime < 8_000_000_000, "\(silentTime) ns")
            #expect(stalledTime >= 1_950_000_000 && stalledTime < 8_000_000_000, "\(stalledTime) ns")

            // The good client is still served afterwards.
            #expect(try await TestClient.echo(payload, over: good) == payload)
        }.value

        let failures = server.handshakeFailures
        #expect(failures.filter { $0.code == .handshakeTimedOut }.count == 2, "\(failures)")
        #expect(failures.filter { $0.code == .handshakeFailed }.count == 1, "\(failures)")
        await server.close()
    }
}
