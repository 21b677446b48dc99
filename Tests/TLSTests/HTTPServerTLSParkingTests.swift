import HTTP
import MarqueeTesting
import Reactor
import Testing

@testable import TLS

/// An idle keep-alive connection over TLS parks as a plain one does (its task ends while
/// OpenSSL holds no received byte), wakes for its next requests, pipelined ones included, and a
/// shutdown wakes it with the drain's 408. A client that has not begun its handshake holds no
/// task either.
@Suite("HTTP server over TLS: idle connections park", .serialized, .timeLimit(.minutes(2)))
struct HTTPServerTLSParkingTests {
    static let certificate = AsyncLazy { try await TestCertificate.make(commonName: "park.test", serial: "9A4C") }
    static let body = #"{"parked":"tls"}"#
    static let request = "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"

    /// Sends `requests` on `stream` and reads until `answers` whole answers are there.
    static func ask(_ stream: TLSStream, _ requests: String, answers: Int = 1) async throws -> String {
        try await stream.write(Array(requests.utf8))
        stream.readDeadline = monotonicNanoseconds() + 5_000_000_000
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        var received: [UInt8] = []
        while String(decoding: received, as: UTF8.self).components(separatedBy: body).count <= answers {
            let count = try await stream.read(into: buffer)
            if count == 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test func idleTLSConnectionsParkWakeAndEndAtShutdown() async throws {
        let certificate = try await Self.certificate.value()
        let store = try TLSCertificateStore(certificatePath: certificate.certificatePath, privateKeyPath: certificate.keyPath)
        var router = Router()
        router.get("/hello") { _ in .json(.ok, Array(Self.body.utf8)) }
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.parkingDelay = .zero
        let server = HTTPServer(
            configuration: configuration, group: TLSTestEnvironment.group, responder: router,
            transport: { socket in try await TLSStream.accept(socket: socket, store: store) })
        try await server.start()
        let running = Task { await server.run() }
        let port = server.localPort
        let context = try TLSClientContext(verify: true, caFile: certificate.certificatePath)
        try await Task(executorPreference: TestClient.loop) {
            // Connected, no handshake yet: no task.
            let silent = try await TestClient.tcp(port: port)
            defer { silent.close() }
            #expect(await eventually { server.parkedConnections == 1 })
            var streams: [TLSStream] = []
            defer { for stream in streams { stream.close() } }
            for _ in 0..<4 {
                let stream = try await TLSStream.connect(
                    socket: try await TestClient.tcp(port: port), context: context, serverName: "127.0.0.1")
                streams.append(stream)
                #expect(try await Self.ask(stream, Self.request).contains(Self.body))
            }
            #expect(await eventually { server.parkedConnections == 5 })
            for round in 1...3 {
                for stream in streams {
                    let answers = try await Self.ask(stream, String(repeating: Self.request, count: round), answers: round)
                    #expect(answers.components(separatedBy: "HTTP/1.1 200 OK").count == round + 1)
                }
                #expect(await eventually { server.parkedConnections == 5 })
            }
            server.shutdown()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buffer.deallocate() }
            for stream in streams {
                stream.readDeadline = monotonicNanoseconds() + 30_000_000_000
                var received: [UInt8] = []
                while let count = try? await stream.read(into: buffer), count > 0 {
                    received.append(contentsOf: buffer[0..<count])
                }
                #expect(String(decoding: received, as: UTF8.self).hasPrefix("HTTP/1.1 408"))
            }
        }.value
        await running.value
        #expect(server.openConnections == 0 && server.parkedConnections == 0)
    }
}
