import MarqueeTesting
import Reactor
import Testing

@testable import HTTP

/// An idle keep-alive connection holds no buffer: its receive buffer and output go back to
/// the loop's pool once a request is answered, and come back when the next one arrives. Past
/// the parking delay it holds no task either (it parks), and wakes for its next request, its
/// idle timeout and the server's shutdown.
/// On a loop of its own, so that no other test's connections borrow from the same pool.
@Suite("HTTP server: idle connections hold no buffers and park", .serialized, .timeLimit(.minutes(5)))
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

    static func server(parkingDelay: Duration?, idleTimeout: Duration = .seconds(60)) -> HTTPServer {
        var router = Router()
        router.get("/hello") { _ in .json(.ok, Array(Self.body.utf8)) }
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.idleTimeout = idleTimeout
        configuration.parkingDelay = parkingDelay
        return HTTPServer(configuration: configuration, group: Self.group, responder: router)
    }

    static let request = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"

    @Test(arguments: [nil, Duration.zero])
    func idleConnectionsGiveTheirBuffersBack(parkingDelay: Duration?) async throws {
        let loop = Self.group.loops[0]
        let server = Self.server(parkingDelay: parkingDelay)
        try await server.start()
        let running = Task { await server.run() }
        defer {
            server.shutdown()
            running.cancel()
        }
        let address = SocketAddress(numericHost: "127.0.0.1", port: server.localPort)!
        let request = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
        let large = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Large: \(String(repeating: "a", count: 20_000))\r\n\r\n"

        // What connections of earlier tests left counted (a buffer freed with its connection
        // at shutdown is not given back to the pool).
        let before = await lent()
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
            #expect(await eventually { await lent() == before })
            // Two pipelined requests on each, then idle again.
            for socket in sockets {
                let answers = try await ask(socket, request + request, answers: 2)
                #expect(answers.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            }
            #expect(await eventually { await lent() == before })
        }
    }

    /// Parked at once: every idle connection parks, wakes for its next request (pipelined ones
    /// too) and parks again; none is lost on the way.
    @Test func idleConnectionsParkAndWake() async throws {
        let loop = Self.group.loops[0]
        let server = Self.server(parkingDelay: .zero)
        try await server.start()
        let running = Task { await server.run() }
        defer {
            server.shutdown()
            running.cancel()
        }
        let address = SocketAddress(numericHost: "127.0.0.1", port: server.localPort)!
        try await withTaskExecutorPreference(loop) { @concurrent in
            var sockets: [TCPSocket] = []
            defer { for socket in sockets { socket.close() } }
            for _ in 0..<20 {
                let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
                sockets.append(socket)
                #expect(try await ask(socket, Self.request).hasPrefix("HTTP/1.1 200 OK"))
            }
            #expect(await eventually { server.parkedConnections == 20 })
            for round in 0..<3 {
                for socket in sockets {
                    let answers = try await ask(socket, String(repeating: Self.request, count: round + 1), answers: round + 1)
                    #expect(answers.components(separatedBy: "HTTP/1.1 200 OK").count == round + 2)
                }
                #expect(await eventually { server.parkedConnections == 20 })
            }
            #expect(server.openConnections == 20)
        }
    }

    /// A parked connection still ends at its idle timeout (counted from its last answer, not
    /// from when it parked), and the server forgets it.
    @Test func aParkedConnectionEndsAtItsIdleTimeout() async throws {
        let loop = Self.group.loops[0]
        let server = Self.server(parkingDelay: .zero, idleTimeout: .seconds(1))
        try await server.start()
        let running = Task { await server.run() }
        defer {
            server.shutdown()
            running.cancel()
        }
        let address = SocketAddress(numericHost: "127.0.0.1", port: server.localPort)!
        try await withTaskExecutorPreference(loop) { @concurrent in
            let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
            defer { socket.close() }
            #expect(try await ask(socket, Self.request).hasPrefix("HTTP/1.1 200 OK"))
            #expect(await eventually { server.parkedConnections == 1 })
            // The server closes it: end of stream, well within this outer bound.
            socket.readDeadline = monotonicNanoseconds() + 30_000_000_000
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 1)
            defer { buffer.deallocate() }
            #expect(try await socket.read(into: buffer) == 0)
            #expect(await eventually { server.openConnections == 0 && server.parkedConnections == 0 })
        }
    }

    /// Shutdown wakes parked connections (each ends with the drain's 408) and `run()` returns
    /// once they have ended, though no accepting task holds them any more.
    @Test func shutdownEndsParkedConnections() async throws {
        let loop = Self.group.loops[0]
        let server = Self.server(parkingDelay: .zero)
        try await server.start()
        let running = Task { await server.run() }
        let address = SocketAddress(numericHost: "127.0.0.1", port: server.localPort)!
        try await withTaskExecutorPreference(loop) { @concurrent in
            var sockets: [TCPSocket] = []
            defer { for socket in sockets { socket.close() } }
            for _ in 0..<5 {
                let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
                sockets.append(socket)
                #expect(try await ask(socket, Self.request).hasPrefix("HTTP/1.1 200 OK"))
            }
            #expect(await eventually { server.parkedConnections == 5 })
            server.shutdown()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buffer.deallocate() }
            for socket in sockets {
                socket.readDeadline = monotonicNanoseconds() + 30_000_000_000
                var received: [UInt8] = []
                while true {
                    let count = try await socket.read(into: buffer)
                    if count == 0 { break }
                    received.append(contentsOf: buffer[0..<count])
                }
                #expect(String(decoding: received, as: UTF8.self).hasPrefix("HTTP/1.1 408"))
            }
        }
        await running.value
        #expect(server.openConnections == 0)
    }
}
