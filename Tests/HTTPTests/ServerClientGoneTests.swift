import MarqueeTesting
import Reactor
import Synchronization
import Testing

@testable import HTTP

/// What a server with ``HTTPServerConfiguration/cancelsAbandonedRequests`` does when a client
/// goes away while its handler runs: the handler's task is cancelled (a wait for a hash, a
/// pool, a timer ends) and its answer dropped; everything else serves as before.
@Suite("HTTP server: requests whose clients have gone", .serialized, .timeLimit(.minutes(5)))
final class ServerClientGoneTests {
    /// What the `/wait` handlers saw: how many started, how many were cancelled.
    final class Seen: Sendable {
        let started = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
    }

    let server: HTTPServer
    let loop: EventLoop
    let seen = Seen()

    init() async throws {
        let group = try EventLoopGroupHolder.shared()
        loop = group.loops[0]
        var router = Router()
        let seen = seen
        router.get("/hello") { _ in .json(.ok, Array(#"{"hello":true}"#.utf8)) }
        // Answers 200 after a short wait, which a cancelled task cannot make (500).
        router.get("/short") { request in
            try await request.loop.sleep(for: .milliseconds(20))
            return .json(.ok, Array(#"{"short":true}"#.utf8))
        }
        // Waits far longer than any test: only a cancellation ends it early.
        router.get("/wait") { request in
            seen.started.add(1, ordering: .relaxed)
            do {
                try await request.loop.sleep(for: .seconds(60))
            } catch {
                seen.cancelled.add(1, ordering: .relaxed)
                throw error
            }
            return .json(.ok, Array(#"{"waited":true}"#.utf8))
        }
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.cancelsAbandonedRequests = true
        configuration.http2 = HTTP2ServerConfiguration()
        server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        let server = server
        Task { await server.run() }
    }

    deinit { server.shutdown() }

    /// Sends `request` on a new connection; returns the socket (the caller closes it).
    private static func send(_ request: String, port: Int, loop: EventLoop) async throws -> TCPSocket {
        let address = try #require(SocketAddress(numericHost: "127.0.0.1", port: port))
        return try await withTaskExecutorPreference(loop) { @concurrent in
            let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(5))
            try await socket.write(Array(request.utf8))
            return socket
        }
    }

    @Test func aClientThatClosesWhileItsHandlerWaitsCancelsIt() async throws {
        let startedBefore = seen.started.load(ordering: .relaxed)
        let cancelledBefore = seen.cancelled.load(ordering: .relaxed)
        let port = server.localPort
        let loop = loop
        let sockets = try await withThrowingTaskGroup(of: TCPSocket.self) { group in
            for _ in 0..<5 {
                group.addTask { try await Self.send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n", port: port, loop: loop) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(await eventually { self.seen.started.load(ordering: .relaxed) - startedBefore == 5 })
        await withTaskExecutorPreference(loop) { @concurrent in for socket in sockets { socket.close() } }
        // Their waits were 60 s: only the cancellation ends them within the bound.
        #expect(
            await eventually(timeout: .seconds(20)) { self.seen.cancelled.load(ordering: .relaxed) - cancelledBefore == 5 },
            "\(seen.cancelled.load(ordering: .relaxed) - cancelledBefore) of 5 handlers cancelled")
        #expect(try await get("/hello") == 200, "the server serves on")
    }

    @Test func anHTTP2ClientThatGivesUpCancelsItsHandler() async throws {
        let cancelledBefore = seen.cancelled.load(ordering: .relaxed)
        // curl gives up after a second and closes the connection.
        let result = try ChildProcess.run(
            "/usr/bin/curl",
            ["-sS", "--http2-prior-knowledge", "--max-time", "1", "http://127.0.0.1:\(server.localPort)/wait"])
        #expect(result.status == 28, "curl timed out: \(result.output)")
        #expect(await eventually(timeout: .seconds(20)) { self.seen.cancelled.load(ordering: .relaxed) > cancelledBefore })
    }

    /// A handler's task serves the connection's next streams when it is done, unless it was
    /// cancelled (a cancelled task stays cancelled): the streams after an abandoned one are
    /// served by tasks that are not.
    @Test func streamsAfterAnAbandonedHTTP2StreamAreServed() async throws {
        let startedBefore = seen.started.load(ordering: .relaxed)
        let cancelledBefore = seen.cancelled.load(ordering: .relaxed)
        let address = try #require(SocketAddress(numericHost: "127.0.0.1", port: server.localPort))
        let loop = loop
        let seen = seen
        let statuses = try await withTaskExecutorPreference(loop) { @concurrent in
            let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(5))
            defer { socket.close() }
            var encoder = HPACKEncoder()
            func headers(_ stream: UInt32, _ path: String) -> [UInt8] {
                var block: [UInt8] = []
                for (name, value) in [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "t")] {
                    encoder.append(name: name, value: value, into: &block)
                }
                var frame: [UInt8] = []
                HTTP2FrameEncoder.headers(streamID: stream, block: block[...], endStream: true, maxFrameSize: 16_384, into: &frame)
                return frame
            }
            var start = HTTP2Wire.clientPreface
            HTTP2FrameEncoder.settings([], into: &start)
            try await socket.write(start + headers(1, "/wait"))
            #expect(await eventually { seen.started.load(ordering: .relaxed) > startedBefore })
            var reset: [UInt8] = []
            HTTP2FrameEncoder.rstStream(streamID: 1, code: .cancel, into: &reset)
            try await socket.write(reset)
            #expect(await eventually(timeout: .seconds(20)) { seen.cancelled.load(ordering: .relaxed) > cancelledBefore })
            // Then streams one at a time: each is served by a task that the last one left.
            var statuses: [String] = []
            var decoder = HPACKDecoder()
            var unread: [UInt8] = []
            // Safe: allocated here, used only by this loop's reads, freed when it is done.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16_384, alignment: 1)
            defer { buffer.deallocate() }
            for stream in stride(from: UInt32(3), through: 11, by: 2) {
                try await socket.write(headers(stream, "/short"))
                var status: String?
                while status == nil {
                    while case .frame(let frame, let consumed) = unread.withUnsafeBytes({ HTTP2FrameDecoder().decode($0) }) {
                        unread.removeFirst(consumed)
                        if frame.streamID == stream, case .headers(let fragment, _, _) = frame.payload {
                            let fields = try decoder.decode(fragment)
                            status = fields.first.map { String(decoding: $0.value, as: UTF8.self) }
                        }
                    }
                    guard status == nil else { break }
                    let count = try await socket.read(into: buffer)
                    guard count > 0 else { throw IOError(.closed, operation: "read") }
                    unread += UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                }
                statuses.append(status ?? "")
            }
            return statuses
        }
        #expect(statuses == ["200", "200", "200", "200", "200"])
    }

    @Test func keepAliveAndPipelinedRequestsAreAnsweredAsBefore() async throws {
        let pipelined = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
        let client = RawHTTPClient(port: server.localPort, loop: loop)
        let both = try await client.exchange([pipelined], expected: 2)
        #expect(both.responses.map(\.head.status.code) == [200, 200])
        let sequential = try await client.exchange(
            ["GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"],
            pause: .milliseconds(50), expected: 2)
        #expect(sequential.responses.map(\.head.status.code) == [200, 200])
    }

    private func get(_ path: String) async throws -> Int {
        let client = RawHTTPClient(port: server.localPort, loop: loop)
        let result = try await client.exchange(["GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"], expected: 1)
        return result.responses.first?.head.status.code ?? 0
    }
}
