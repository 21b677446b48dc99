import MarqueeTesting
import Reactor
import Testing

@testable import HTTP

/// An idle keep-alive connection holds no buffer: its receive buffer and output go back to
/// the loop's pool once a request is answered, and come back when the next one arrives.
/// On a loop of its own, so that no other test's connections borrow from the same pool.
@Suite("HTTP server: idle connections hold no buffers", .serialized, .timeLimit(.minutes(5)))
struct IdleConnectionMemoryTests {
    static let group: EventLoopGroup = {
        do { return try EventLoopGroup(loopCount: 1, affinity: .none) } catch { fatalError("no event loop: \(error)") }
    }()

    static let body = #"{"hello":"world"}"#

    /// The pool's buffers lent out now, read on the loop.
    func lent() async -> (receive: Int, arrays: Int) {
        let loop = Self.group.loops[0]
        return await withTaskExecutorPreference(loop) { @concurrent in
            (loop.bufferPool.receiveBuffersLent, loop.bufferPool.arraysLent)
        }
    }

    /// Sends `request` (one or more) on `socket` and reads until `answers` whole answers are there.
    func ask(_ socket: TCPSocket, _ request: String, answers: Int = 1) async throws -> String {
        try await socket.write(Array(request.utf8))
        socket.readDeadline = monotonicNanoseconds() + 5_000_000_000
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        var received: [UInt8] = []
        while String(decoding: received, as: UTF8.self).components(separatedBy: Self.body).count <= answers {
            let count = try await socket.read(into: buffer)
            if count == 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test func idleConnectionsGiveTheirBuffersBack() async throws {
        let loop = Self.group.loops[0]
        var router = Router()
        router.get("/hello") { _ in .json(.ok, Array(Self.body.utf8)) }
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.idleTimeout = .seconds(60)
        let server = HTTPServer(configuration: configuration, group: Self.group, responder: router)
        try await server.start()
        let running = Task { await server.run() }
        defer {
            server.shutdown()
            running.cancel()
        }
        let address = SocketAddress(numericHost: "127.0.0.1", port: server.localPort)!
        let request = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
        let large = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Large: \(String(repeating: "a", count: 20_000))\r\n\r\n"

        try await withTaskExecutorPreference(loop) { @concurrent in
            var sockets: [TCPSocket] = []
            defer { for socket in sockets { socket.close() } }
            for index in 0..<20 {
                let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
                sockets.append(socket)
                // Every fifth asks with a head larger than a pooled buffer (the buffer grows).
                let answer = try await ask(socket, index % 5 == 0 ? large : request)
                #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
            }
            // All twenty are idle now: nothing is lent out.
            #expect(await eventually { await lent() == (0, 0) })
            // Two pipelined requests on each, then idle again.
            for socket in sockets {
                let answers = try await ask(socket, request + request, answers: 2)
                #expect(answers.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            }
            #expect(await eventually { await lent() == (0, 0) })
        }
    }
}
