import HTTP
import Reactor
import Synchronization
import Testing

/// The leased-connection API the gateway streams through.
@Suite("HTTP client streaming", .timeLimit(.minutes(10)))
struct ClientStreamingTests {
    static let group = try! EventLoopGroup(loopCount: 2)
    var serverLoop: EventLoop { Self.group.loops[0] }
    var clientLoop: EventLoop { Self.group.loops[1] }

    /// 100 MiB pass through one connection while the client holds at most one read buffer
    /// (64 KiB) of body: nothing is collected, and the caller's chunk array never grows.
    @Test func hundredMebibyteDownloadStreamsWithBoundedMemory() async throws {
        let total = 100 << 20
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in
            .stream(total: total, chunkSize: 256 << 10)
        }
        let client = HTTPClient(group: Self.group)
        let (received, largestChunk, largestCapacity, status) = try await client.withConnection(to: server.origin) {
            connection in
            try connection.sendHead(HTTPRequestHead(method: .GET, target: "/big", headers: ["Host": "test"]))
            let head = try await connection.readResponseHead()
            #expect(connection.responseBodyKind == .length(total))
            var chunk: [UInt8] = []
            chunk.reserveCapacity(64 << 10)
            var received = 0
            var largestChunk = 0
            var largestCapacity = 0
            while try await connection.readBodyChunk(appendingTo: &chunk) {
                received += chunk.count
                largestChunk = max(largestChunk, chunk.count)
                largestCapacity = max(largestCapacity, chunk.capacity)
                chunk.removeAll(keepingCapacity: true)
            }
            #expect(connection.isReusable)
            return (received, largestChunk, largestCapacity, head.status)
        }
        #expect(status == .ok)
        #expect(received == total)
        #expect(largestChunk <= 64 << 10)
        #expect(largestCapacity <= 128 << 10)
        #expect(await client.poolCounts(for: server.origin, on: clientLoop).idle
            + client.poolCounts(for: server.origin, on: serverLoop).idle == 1)
        await client.shutdown()
        await server.stop()
    }

    /// A chunked upload written piece by piece (the gateway forwarding a request body of
    /// unknown length), then a Content-Length one on the same connection.
    @Test func uploadsStreamChunkedAndWithContentLength() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { head, body, _ in
            let sum = body.reduce(0) { $0 &+ Int($1) }
            return .raw(ClientTestServer.response(body: "\(head.method) \(body.count) \(sum)"), thenClose: false)
        }
        let client = HTTPClient(group: Self.group)
        let piece = (0..<100_000).map { UInt8(truncatingIfNeeded: $0) }
        let pieceSum = piece.reduce(0) { $0 &+ Int($1) }
        let loop = clientLoop
        try await Task(executorPreference: loop) {
            let connection = try await client.connection(to: server.origin)
            defer { connection.release() }
            try connection.sendHead(
                HTTPRequestHead(method: .PUT, target: "/up", headers: ["Host": "t", "Transfer-Encoding": "chunked"]))
            for _ in 0..<40 { try await connection.sendBody(piece) }
            try await connection.sendBody(piece[0..<10])  // a small one joins the buffer
            try await connection.finishRequest()
            _ = try await connection.readResponseHead()
            let body = try await connection.collectBody(maxSize: 1000)
            let expectedSum = 40 * pieceSum + piece[0..<10].reduce(0) { $0 &+ Int($1) }
            #expect(body == Array("PUT \(40 * piece.count + 10) \(expectedSum)".utf8))
            #expect(connection.isReusable)

            try connection.sendHead(
                HTTPRequestHead(method: .POST, target: "/up", headers: ["Host": "t", "Content-Length": "200000"]))
            try await connection.sendBody(piece)
            try await connection.sendBody(piece)
            _ = try await connection.readResponseHead()
            #expect(try await connection.collectBody(maxSize: 1000) == Array("POST 200000 \(2 * pieceSum)".utf8))
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 1)
        await client.shutdown()
        await server.stop()
    }

    @Test func aBodyLongerThanItsContentLengthIsRefusedBeforeItIsSent() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in .silence }
        let client = HTTPClient(group: Self.group)
        await #expect {
            try await client.withConnection(to: server.origin) { connection in
                try connection.sendHead(
                    HTTPRequestHead(method: .POST, target: "/", headers: ["Host": "t", "Content-Length": "3"]))
                try await connection.sendBody([1, 2, 3, 4])
            }
        } throws: { ($0 as? HTTPClientError)?.code == .invalidRequest }
        await client.shutdown()
        await server.stop()
    }

    /// A body left unread makes the connection unusable: it is closed, not pooled.
    @Test func anUnreadBodyClosesTheConnection() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in
            .raw(ClientTestServer.response(body: String(repeating: "b", count: 100)), thenClose: false)
        }
        let client = HTTPClient(group: Self.group)
        for _ in 0..<2 {
            try await client.withConnection(to: server.origin) { connection in
                try connection.sendHead(HTTPRequestHead(method: .GET, target: "/", headers: ["Host": "t"]))
                _ = try await connection.readResponseHead()
                #expect(!connection.isReusable)
            }
        }
        #expect(server.accepts.load(ordering: .relaxed) == 2)
        await client.shutdown()
        await server.stop()
    }

    /// The load generator's path: one encoded request reused for every call.
    @Test func preEncodedRequestsReuseTheirBytes() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { head, _, _ in
            .raw(ClientTestServer.response(body: head.target), thenClose: false)
        }
        let client = HTTPClient(group: Self.group)
        let request = Array("GET /hot HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        try await client.withConnection(to: server.origin) { connection in
            for _ in 0..<100 {
                try await connection.sendEncodedRequest(request[...], method: .GET)
                _ = try await connection.readResponseHead()
                #expect(try await connection.collectBody(maxSize: 100) == Array("/hot".utf8))
            }
        }
        #expect(server.requests.load(ordering: .relaxed) == 100)
        #expect(server.accepts.load(ordering: .relaxed) == 1)
        await client.shutdown()
        await server.stop()
    }
}
