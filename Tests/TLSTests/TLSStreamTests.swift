import MarqueeTesting
import Reactor
import Testing

@testable import TLS

@Suite("TLS streams over loopback (our server, our client)", .timeLimit(.minutes(10)))
struct TLSStreamTests {
    static let certificate = AsyncLazy { try await TestCertificate.make(commonName: "stream.test", serial: "5EED") }

    private func echoServer() async throws -> (TestTLSServer, TestCertificate) {
        let certificate = try await Self.certificate.value()
        let store = try TLSCertificateStore(
            certificatePath: certificate.certificatePath, privateKeyPath: certificate.keyPath)
        return (try await TestTLSServer(store: store, handler: TestTLSServer.echo), certificate)
    }

    /// Shakes hands (verifying the self-signed certificate against itself, by IP SAN) and
    /// echoes 1 MiB, written while it is read back so that both sides wait for both
    /// directions; returns the version and ALPN protocol seen by the client.
    private func roundTrip(
        port: Int, certificate: TestCertificate, maximumVersion: TLSProtocolVersion
    ) async throws -> (TLSProtocolVersion?, String?) {
        let context = try TLSClientContext(
            verify: true, caFile: certificate.certificatePath, maximumVersion: maximumVersion)
        return try await Task(executorPreference: TestClient.loop) {
            let stream = try await TLSStream.connect(
                socket: try await TestClient.tcp(port: port), context: context, serverName: "127.0.0.1")
            let payload = TestClient.payload(1 << 20)
            let echoed = try await TestClient.echo(payload, over: stream)
            #expect(echoed.count == payload.count)
            #expect(echoed == payload)
            await stream.closeGracefully()
            return (stream.negotiatedProtocolVersion, stream.negotiatedALPN)
        }.value
    }

    @Test func echoesOneMebibyteBothWaysOverTLS13() async throws {
        let (server, certificate) = try await echoServer()
        let (version, alpn) = try await roundTrip(port: server.port, certificate: certificate, maximumVersion: .tls13)
        #expect(version == .tls13)
        #expect(alpn == "http/1.1")
        await server.close()
    }

    @Test func echoesOneMebibyteBothWaysOverForcedTLS12() async throws {
        let (server, certificate) = try await echoServer()
        let (version, alpn) = try await roundTrip(port: server.port, certificate: certificate, maximumVersion: .tls12)
        #expect(version == .tls12)
        #expect(alpn == "http/1.1")
        await server.close()
    }

    @Test func manySmallWritesAndReadsKeepTheirOrder() async throws {
        let (server, certificate) = try await echoServer()
        let context = try TLSClientContext(verify: true, caFile: certificate.certificatePath)
        try await Task(executorPreference: TestClient.loop) {
            let stream = try await TLSStream.connect(
                socket: try await TestClient.tcp(port: server.port), context: context, serverName: "127.0.0.1")
            defer { stream.close() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            for round in 0..<200 {
                let message = Array("message \(round);".utf8)
                try await stream.write(message)
                var received: [UInt8] = []
                while received.count < message.count {
                    let count = try await stream.read(into: buffer)
                    if count == 0 { break }
                    received.append(contentsOf: buffer[0..<count])
                }
                #expect(received == message)
            }
        }.value
        await server.close()
    }

    /// Records handed over for the end of the round and records written at once reach the
    /// peer in the order they were made (TLS sequence numbers demand it); every tenth
    /// message is larger than a TLS record (16 KiB), which OpenSSL encrypts a record at a time.
    @Test func endOfRoundSendsAndWritesKeepTheirOrder() async throws {
        let (server, certificate) = try await echoServer()
        let context = try TLSClientContext(verify: true, caFile: certificate.certificatePath)
        let deferredCount = try await Task(executorPreference: TestClient.loop) { () -> Int in
            let stream = try await TLSStream.connect(
                socket: try await TestClient.tcp(port: server.port), context: context, serverName: "127.0.0.1")
            defer { stream.close() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 1)
            defer { buffer.deallocate() }
            var deferredCount = 0
            for round in 0..<100 {
                let first =
                    round % 10 == 0
                    ? TestClient.payload(40_000 + round) : Array("end of round \(round);".utf8)
                var handedOver = first
                if stream.sendAtEndOfRound(&handedOver) {
                    deferredCount += 1
                    #expect(handedOver.isEmpty)
                } else {
                    try await stream.write(first)
                }
                let second = Array("now \(round);".utf8)
                try await stream.write(second)
                var received: [UInt8] = []
                while received.count < first.count + second.count {
                    let count = try await stream.read(into: buffer)
                    if count == 0 { break }
                    received.append(contentsOf: buffer[0..<count])
                }
                #expect(received == first + second)
            }
            return deferredCount
        }.value
        #expect(deferredCount > 0)
        await server.close()
    }

    @Test func aClientThatVerifiesRefusesAnUnknownCertificate() async throws {
        let (server, _) = try await echoServer()
        let stranger = try await TestCertificate.make(commonName: "stranger.test", serial: "BAD")
        let context = try TLSClientContext(verify: true, caFile: stranger.certificatePath)
        let error = await Task(executorPreference: TestClient.loop) { () -> TLSError? in
            do {
                let stream = try await TLSStream.connect(
                    socket: try await TestClient.tcp(port: server.port), context: context, serverName: "127.0.0.1")
                stream.close()
                return nil
            } catch {
                return error as? TLSError
            }
        }.value
        #expect(error?.code == .handshakeFailed)
        #expect(error?.message.contains("certificate verify failed") == true)
        await server.close()
    }

    /// A read that drained the socket lets the next read wait for the socket's edge instead
    /// of asking OpenSSL (a `read` answering EAGAIN). That must never miss data: bytes that
    /// arrived while nobody was reading are read at once, and a read waiting on a drained
    /// socket wakes for bytes that come later.
    @Test func readsAfterADrainingReadMissNothing() async throws {
        let (server, _) = try await echoServer()
        let context = try TLSClientContext(verify: false)
        try await Task(executorPreference: TestClient.loop) {
            let stream = try await TLSStream.connect(
                socket: try await TestClient.tcp(port: server.port), context: context, serverName: nil)
            defer { stream.close() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buffer.deallocate() }
            func readMessage() async throws -> String {
                stream.readDeadline = monotonicNanoseconds() + 10_000_000_000
                let count = try await stream.read(into: buffer)
                return String(decoding: buffer[0..<count], as: UTF8.self)
            }
            try await stream.write(Array("first".utf8))
            #expect(try await readMessage() == "first")
            #expect(stream.socket.isKnownDrained)
            // The echo arrives while nobody reads: its edge is taken, and the read after finds it.
            try await stream.write(Array("second".utf8))
            #expect(await eventually { !stream.socket.isKnownDrained }, "the echo's edge never came")
            #expect(try await readMessage() == "second")
            // A read that starts drained waits, and wakes for bytes written meanwhile.
            #expect(stream.socket.isKnownDrained)
            let writer = Task(executorPreference: TestClient.loop) {
                try await TestClient.loop.sleep(for: .milliseconds(100))
                try await stream.write(Array("third".utf8))
            }
            #expect(try await readMessage() == "third")
            try await writer.value
        }.value
        await server.close()
    }

    @Test func readDeadlineFailsAWaitingReadWithTheSocketsTimedOut() async throws {
        let (server, certificate) = try await echoServer()
        let context = try TLSClientContext(verify: false)
        let error = await Task(executorPreference: TestClient.loop) { () -> IOError? in
            do {
                let stream = try await TLSStream.connect(
                    socket: try await TestClient.tcp(port: server.port), context: context, serverName: nil)
                defer { stream.close() }
                stream.readDeadline = monotonicNanoseconds() + 50_000_000
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
                defer { buffer.deallocate() }
                _ = try await stream.read(into: buffer)
                return nil
            } catch {
                return error as? IOError
            }
        }.value
        _ = certificate
        #expect(error?.code == .timedOut)
        await server.close()
    }

    @Test func closeNotifyFromThePeerReadsAsEndOfStream() async throws {
        let certificate = try await Self.certificate.value()
        let store = try TLSCertificateStore(
            certificatePath: certificate.certificatePath, privateKeyPath: certificate.keyPath)
        let server = try await TestTLSServer(store: store) { stream in
            try? await stream.write(Array("bye".utf8))
            await stream.closeGracefully()
        }
        let context = try TLSClientContext(verify: false)
        let received = try await Task(executorPreference: TestClient.loop) { () -> [UInt8] in
            let stream = try await TLSStream.connect(
                socket: try await TestClient.tcp(port: server.port), context: context, serverName: "localhost")
            defer { stream.close() }
            var received: [UInt8] = []
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            while true {
                let count = try await stream.read(into: buffer)
                if count == 0 { break }
                received.append(contentsOf: buffer[0..<count])
            }
            // And it stays at end of stream.
            #expect(try await stream.read(into: buffer) == 0)
            return received
        }.value
        #expect(received == Array("bye".utf8))
        await server.close()
    }

    @Test func aReadWaitingWhenTheStreamIsClosedFailsWithClosed() async throws {
        let (server, _) = try await echoServer()
        let context = try TLSClientContext(verify: false)
        let error = await Task(executorPreference: TestClient.loop) { () -> IOError? in
            do {
                let stream = try await TLSStream.connect(
                    socket: try await TestClient.tcp(port: server.port), context: context, serverName: nil)
                TestClient.loop.execute0 { stream.close() }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
                defer { buffer.deallocate() }
                _ = try await stream.read(into: buffer)
                return nil
            } catch {
                return error as? IOError
            }
        }.value
        #expect(error?.code == .closed)
        await server.close()
    }
}

/// A value computed once, on first use, shared by the tests of a suite.
final class AsyncLazy<Value: Sendable>: Sendable {
    private let task: Task<Value, any Error>

    init(_ make: @escaping @Sendable () async throws -> Value) {
        // Started at once; tests await its value.
        task = Task { try await make() }
    }

    func value() async throws -> Value { try await task.value }
}
