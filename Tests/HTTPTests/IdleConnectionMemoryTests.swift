import MarqueeTesting
@testable import Reactor
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

    static func server(
        parkingDelay: Duration?, idleTimeout: Duration = .seconds(60), maxIdleTasks: Int = 128,
        headerReadTimeout: Duration = .seconds(10)
    ) -> HTTPServer {
        var router = Router()
        router.get("/hello") { _ in .json(.ok, Array(Self.body.utf8)) }
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.idleTimeout = idleTimeout
        configuration.parkingDelay = parkingDelay
        configuration.maxIdleTasksPerLoop = maxIdleTasks
        configuration.headerReadTimeout = headerReadTimeout
        return HTTPServer(configuration: configuration, group: Self.group, responder: router)
    }

    /// Starts `server`, runs `body` on the loop with the server's address, then shuts the
    /// server down (if `body` has not) and waits for `run()` to return.
    func serving(
        _ server: HTTPServer, _ body: @Sendable (SocketAddress, EventLoop) async throws -> Void
    ) async throws {
        let loop = Self.group.loops[0]
        try await server.start()
        let running = Task { await server.run() }
        let address = SocketAddress(numericHost: "127.0.0.1", port: server.localPort)!
        do {
            try await withTaskExecutorPreference(loop) { @concurrent in try await body(address, loop) }
        } catch {
            server.shutdown()
            await running.value
            throw error
        }
        server.shutdown()
        await running.value
    }

    /// `count` connections, each answered once and left open (idle).
    func connectAndAsk(_ count: Int, _ address: SocketAddress, _ loop: EventLoop) async throws -> [TCPSocket] {
        var sockets: [TCPSocket] = []
        for _ in 0..<count {
            let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
            sockets.append(socket)
            #expect(try await ask(socket, Self.request).hasPrefix("HTTP/1.1 200 OK"))
        }
        return sockets
    }

    /// Reads until the server closes the connection (bounded); what it sent.
    func readToEnd(_ socket: TCPSocket) async throws -> String {
        socket.readDeadline = monotonicNanoseconds() + 30_000_000_000
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        var received: [UInt8] = []
        while true {
            let count = try await socket.read(into: buffer)
            if count == 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: received, as: UTF8.self)
    }

    static let request = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"

    @Test(arguments: [nil, Duration.zero])
    func idleConnectionsGiveTheirBuffersBack(parkingDelay: Duration?) async throws {
        let server = Self.server(parkingDelay: parkingDelay)
        let request = Self.request
        let large = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Large: \(String(repeating: "a", count: 20_000))\r\n\r\n"
        try await serving(server) { address, loop in
            // What connections of earlier tests left counted (a buffer freed with its connection
            // at shutdown is not given back to the pool).
            let before = await lent()
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
        let server = Self.server(parkingDelay: .zero)
        try await serving(server) { address, loop in
            let sockets = try await connectAndAsk(20, address, loop)
            defer { for socket in sockets { socket.close() } }
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

    static func liveTimers(on loop: EventLoop) async -> Int {
        await withTaskExecutorPreference(loop) { @concurrent in loop.liveTimerCount }
    }

    /// A parked connection holds no timer of its own: its loop's sweep keeps every parked
    /// connection's idle deadline with one timer (and nor does the wait before it parks).
    @Test func parkedConnectionsHoldNoTimerEach() async throws {
        let server = Self.server(parkingDelay: .zero)
        try await serving(server) { address, loop in
            let before = await Self.liveTimers(on: loop)
            let sockets = try await connectAndAsk(20, address, loop)
            defer { for socket in sockets { socket.close() } }
            // The clients are on the same loop: their own timers (connect, read) do not count.
            for socket in sockets {
                socket.readDeadline = nil
                socket.cancelDeadlineTimers()
            }
            #expect(await eventually { server.parkedConnections == 20 })
            let after = await Self.liveTimers(on: loop)
            #expect(after <= before + 2, "20 parked connections, \(after - before) more timers")
        }
    }

    /// A parked connection still ends at its idle timeout (counted from its last answer, not
    /// from when it parked), and the server forgets it.
    @Test func aParkedConnectionEndsAtItsIdleTimeout() async throws {
        let server = Self.server(parkingDelay: .zero, idleTimeout: .seconds(1))
        try await serving(server) { address, loop in
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

    /// A connection waiting for its next request in a task (the parking delay is long) has no
    /// read timer either: its loop's sweep ends the wait at the idle deadline, and it closes.
    @Test func anIdleWaitInATaskEndsAtItsIdleTimeout() async throws {
        let server = Self.server(parkingDelay: .seconds(600), idleTimeout: .seconds(1))
        try await serving(server) { address, loop in
            let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
            defer { socket.close() }
            #expect(try await ask(socket, Self.request).hasPrefix("HTTP/1.1 200 OK"))
            socket.readDeadline = monotonicNanoseconds() + 30_000_000_000
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 1)
            defer { buffer.deallocate() }
            #expect(try await socket.read(into: buffer) == 0)
            #expect(server.parkedConnections == 0, "it timed out waiting, not parked")
            #expect(await eventually { server.openConnections == 0 })
        }
    }

    /// Shutdown wakes parked connections (each ends with the drain's 408) and `run()` returns
    /// once they have ended, though no accepting task holds them any more.
    @Test func shutdownEndsParkedConnections() async throws {
        let server = Self.server(parkingDelay: .zero)
        try await serving(server) { address, loop in
            let sockets = try await connectAndAsk(5, address, loop)
            defer { for socket in sockets { socket.close() } }
            #expect(await eventually { server.parkedConnections == 5 })
            server.shutdown()
            for socket in sockets {
                #expect(try await readToEnd(socket).hasPrefix("HTTP/1.1 408"))
            }
        }
        #expect(server.openConnections == 0)
    }

    /// A connection that has sent nothing holds no task: it is counted parked until its first
    /// bytes, is served when they come, and a shutdown wakes it: it waits the header timeout
    /// for a request on its way, then ends with the drain's 408; `run()` returns after.
    @Test func aConnectionThatSaysNothingHoldsNoTask() async throws {
        // No parking of idle waits here: what is parked has not spoken.
        let server = Self.server(parkingDelay: .seconds(60), headerReadTimeout: .seconds(1))
        try await serving(server) { address, loop in
            var silent: [TCPSocket] = []
            defer { for socket in silent { socket.close() } }
            for _ in 0..<5 { silent.append(try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))) }
            let asking = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
            defer { asking.close() }
            #expect(try await ask(asking, Self.request).hasPrefix("HTTP/1.1 200 OK"))
            // The asking one waits for its next request in a task; the five silent ones have none.
            #expect(await eventually { server.openConnections == 6 && server.parkedConnections == 5 })
            // One speaks after all: it gets a task and its answer.
            #expect(try await ask(silent[0], Self.request).hasPrefix("HTTP/1.1 200 OK"))
            #expect(await eventually { server.parkedConnections == 4 })
            server.shutdown()
            for socket in silent.dropFirst() {
                #expect(try await readToEnd(socket).hasPrefix("HTTP/1.1 408"))
            }
        }
        #expect(server.openConnections == 0 && server.parkedConnections == 0)
    }

    /// A connection that never sends a byte ends at its idle timeout, with no task meanwhile.
    @Test func aSilentConnectionEndsAtItsIdleTimeout() async throws {
        let server = Self.server(parkingDelay: .zero, idleTimeout: .seconds(1))
        try await serving(server) { address, loop in
            let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
            defer { socket.close() }
            #expect(await eventually { server.parkedConnections == 1 })
            #expect(try await readToEnd(socket) == "")
            #expect(await eventually { server.openConnections == 0 && server.parkedConnections == 0 })
        }
    }

    /// No more than `maxIdleTasksPerLoop` idle connections wait in tasks, however long the
    /// parking delay: each one more parks the one that waited longest, and all are still served.
    @Test func atMostSoManyIdleConnectionsKeepATask() async throws {
        let server = Self.server(parkingDelay: .seconds(60), maxIdleTasks: 2)
        try await serving(server) { address, loop in
            let sockets = try await connectAndAsk(5, address, loop)
            defer { for socket in sockets { socket.close() } }
            #expect(await eventually { server.openConnections == 5 && server.parkedConnections == 3 })
            for _ in 0..<2 {
                for socket in sockets {
                    #expect(try await ask(socket, Self.request).hasPrefix("HTTP/1.1 200 OK"))
                }
                #expect(await eventually { server.parkedConnections == 3 })
            }
        }
    }
}
