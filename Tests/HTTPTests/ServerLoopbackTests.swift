import MarqueeTesting
import Reactor
import Synchronization
import Testing

@testable import HTTP

/// A test client that speaks raw bytes, so tests can send what no polite client would.
struct RawHTTPClient {
    let port: Int
    let loop: EventLoop

    struct Exchange {
        var responses: [(head: HTTPResponseHead, body: [UInt8])] = []
        var closedByServer = false
    }

    /// Sends `pieces` (pausing `pause` between them), then reads until `expected` responses
    /// arrived or the server closed the connection.
    func exchange(
        _ pieces: [String], pause: Duration = .zero, expected: Int, method: HTTPMethod = .GET,
        timeout: Duration = .seconds(5), halfClose: Bool = false
    ) async throws -> Exchange {
        try await withTaskExecutorPreference(loop) { @concurrent in
            let socket = try await TCPSocket.connect(
                to: SocketAddress(numericHost: "127.0.0.1", port: port)!, on: loop, timeout: .seconds(2))
            defer { socket.close() }
            for (index, piece) in pieces.enumerated() {
                try await socket.write(Array(piece.utf8))
                if index < pieces.count - 1 && pause > .zero { try await loop.sleep(for: pause) }
            }
            if halfClose { socket.shutdownWrite() }
            socket.readDeadline = monotonicNanoseconds() + timeout.nanoseconds
            var result = Exchange()
            var parser = HTTPResponseParser()
            parser.expectResponse(toRequestMethod: method)
            var pending: [UInt8] = []
            var head: HTTPResponseHead?
            var body: [UInt8] = []
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
            defer { buffer.deallocate() }
            while result.responses.count < expected {
                let count = try await socket.read(into: buffer)
                if count == 0 {
                    result.closedByServer = true
                    return result
                }
                pending.append(contentsOf: buffer[0..<count])
                parsing: while true {
                    let event = pending.withUnsafeBytes { parser.next($0) }
                    switch event {
                    case .needMore: break parsing
                    case .head(let parsed, let consumed):
                        pending.removeFirst(consumed)
                        if parsed.status.code >= 200 { head = parsed } else { continue }
                    case .body(let start, let count, let consumed):
                        body.append(contentsOf: pending[start..<start + count])
                        pending.removeFirst(consumed)
                    case .end(let consumed, _):
                        pending.removeFirst(consumed)
                        if let head { result.responses.append((head, body)) }
                        head = nil
                        body = []
                    case .invalid(let error):
                        Issue.record("invalid response: \(error)")
                        return result
                    }
                }
            }
            // See whether the server closes right after (it should when it said so).
            if result.responses.last?.head.headers.connectionTokens.contains("close") == true {
                socket.readDeadline = monotonicNanoseconds() + 1_000_000_000
                result.closedByServer = (try? await socket.read(into: buffer)) == 0
            }
            return result
        }
    }
}

@Suite("HTTP server over loopback", .serialized, .timeLimit(.minutes(10)))
/// The origins `/peer` saw, kept alive so that two of them can be compared by identity (a
/// freed object's address may be reused by the next one).
final class SeenOrigins: Sendable {
    let origins = Mutex<[HTTPRequestOrigin]>([])
}

final class ServerLoopbackTests {
    let group: EventLoopGroup
    let server: HTTPServer
    let client: RawHTTPClient
    let seenOrigins = SeenOrigins()

    init() async throws {
        group = try EventLoopGroupHolder.shared()
        var router = Router()
        let seenOrigins = seenOrigins
        router.get("/hello") { request in
            .json(.ok, Array(#"{"hello":"\#(request.loop.inLoop)"}"#.utf8))
        }
        router.post("/echo") { request in
            let body = try await request.body.collect(upTo: 1 << 20)
            return HTTPServerResponse(status: .ok, body: .bytes(body))
        }
        router.post("/ignore-body") { _ in HTTPServerResponse(status: .accepted) }
        router.get("/peer") { request in
            seenOrigins.origins.withLock { $0.append(request.origin) }
            let onItsLoop = request.loop === EventLoop.current
            return .json(
                .ok, Array("\(request.remoteHost ?? "none") \(request.remoteAddress?.host ?? "none") \(onItsLoop)".utf8))
        }
        // A handler that keeps its request's body past the request, and one that reads it later.
        let keptBody = Mutex<HTTPRequestBody?>(nil)
        router.post("/keep-body") { request in
            keptBody.withLock { $0 = request.body }
            return HTTPServerResponse(status: .accepted)
        }
        router.post("/read-kept") { _ in
            guard let kept = keptBody.withLock({ $0 }) else { return HTTPServerResponse(status: .notFound) }
            let bytes = try await kept.collect(upTo: 1 << 20)
            return HTTPServerResponse(status: .ok, body: .bytes(bytes))
        }
        router.get("/slow") { request in
            try await request.loop.sleep(for: .milliseconds(300))
            return .json(.ok, Array("slow done".utf8))
        }
        router.get("/stream") { _ in
            HTTPServerResponse(status: .ok, body: .stream(length: nil) { writer in
                for index in 0..<5 { try await writer.write(Array("part\(index);".utf8)) }
            })
        }
        router.get("/big") { request in
            // Long enough for a half-closing client's FIN to be there when the server
            // next reads: the answer is then still waiting for the end of the round.
            try await request.loop.sleep(for: .milliseconds(50))
            return HTTPServerResponse(status: .ok, body: .bytes(ServerLoopbackTests.bigBody))
        }
        // A handler that states framing, Date and Server itself (a proxy passing an
        // upstream's on, say): the server's own must win, and appear once.
        router.get("/own-framing") { _ in
            HTTPServerResponse(
                status: .ok,
                headers: HTTPHeaders([
                    ("Content-Length", "999"), ("X-Kept", "yes"), ("transfer-encoding", "chunked"),
                    ("Connection", "close"), ("Date", "Mon, 01 Jan 2001 00:00:00 GMT"), ("server", "handler"),
                ]),
                body: .bytes(Array("hello".utf8)))
        }
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.headerReadTimeout = .milliseconds(300)
        configuration.idleTimeout = .milliseconds(500)
        configuration.parserLimits.maxBodySize = 1024
        server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        client = RawHTTPClient(port: server.localPort, loop: group.loops[1])
        let server = server
        Task { await server.run() }
    }

    deinit { server.shutdown() }

    @Test func keepAliveServesManyRequestsOnOneConnectionOnTheLoopThread() async throws {
        let request = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
        let result = try await client.exchange([request, request, request], expected: 3)
        #expect(result.responses.count == 3)
        #expect(result.responses.allSatisfy { $0.head.status == .ok })
        #expect(String(decoding: result.responses[0].body, as: UTF8.self) == #"{"hello":"true"}"#)
        #expect(result.responses[0].head.headers["Date"] != nil)
        #expect(!result.closedByServer)
    }

    /// The peer's numeric host, formatted once per connection, is the address's.
    /// Requests know their peer and loop, through one origin object per connection.
    @Test func requestsKnowThePeersHost() async throws {
        let request = "GET /peer HTTP/1.1\r\nHost: t\r\n\r\n"
        let result = try await client.exchange([request, request], expected: 2)
        #expect(result.responses.map { String(decoding: $0.body, as: UTF8.self) } == ["127.0.0.1 127.0.0.1 true", "127.0.0.1 127.0.0.1 true"])
        let origins = seenOrigins.origins.withLock { $0 }
        #expect(origins.count == 2)
        #expect(origins.first === origins.last)  // one object for the connection's requests
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let pipelined =
            "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"
            + "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n"
        let result = try await client.exchange([pipelined], expected: 3)
        #expect(result.responses.map { String(decoding: $0.body, as: UTF8.self) } == ["slow done", "first", "second"])
    }

    @Test func unreadBodiesAreSkippedBeforeTheNextRequest() async throws {
        let requests =
            "POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789"
            + "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
        let result = try await client.exchange([requests], expected: 2)
        #expect(result.responses.map(\.head.status.code) == [202, 200])
    }

    /// A body kept past its request reads nothing more: not the next request's body (which
    /// the connection is serving by then), and no bytes of a closed connection.
    @Test func aBodyKeptPastItsRequestReadsNothingMore() async throws {
        let requests =
            "POST /keep-body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"
            + "POST /read-kept HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\nsecond!"
            + "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
        let result = try await client.exchange([requests], expected: 3)
        #expect(result.responses.map(\.head.status.code) == [202, 200, 200])
        #expect(result.responses.count == 3 && result.responses[1].body.isEmpty)
    }

    @Test func http10ClosesUnlessKeepAliveIsAsked() async throws {
        let closing = try await client.exchange(["GET /hello HTTP/1.0\r\n\r\n"], expected: 1)
        #expect(closing.responses.first?.head.headers["Connection"] == "close")
        #expect(closing.closedByServer)
        let kept = try await client.exchange(
            ["GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"],
            expected: 2)
        #expect(kept.responses.count == 2)
        #expect(kept.responses[0].head.headers["Connection"] == "keep-alive")
    }

    /// Under the server's flush threshold, so the answer is deferred to the end of the round.
    static let bigBody = (0..<(48 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 13) }

    /// A client that half-closes after its request (`printf ... | nc -q`) still gets the whole
    /// answer: the server reads the end of stream (already there when the slow handler
    /// returns) while the answer waits for the end of the round, and sends it before it closes.
    @Test func aHalfClosingClientGetsTheWholeAnswer() async throws {
        let result = try await client.exchange(["GET /big HTTP/1.1\r\nHost: t\r\n\r\n"], expected: 1, halfClose: true)
        #expect(result.responses.count == 1)
        #expect(result.responses.first?.body.count == Self.bigBody.count)
        let whole = result.responses.first?.body == Self.bigBody  // (not in #expect: 6 MiB in a message)
        #expect(whole)
    }

    @Test func connectionCloseIsHonoured() async throws {
        let result = try await client.exchange(["GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"], expected: 1)
        #expect(result.responses.count == 1)
        #expect(result.closedByServer)
    }

    /// The response head is written field by field straight into the output: the handler's
    /// own fields pass, its framing fields are replaced by the server's, its `Connection:
    /// close` is honoured, and `Date` appears once.
    @Test func handlerFramingFieldsAreReplacedByTheServers() async throws {
        let result = try await client.exchange(
            ["GET /own-framing HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"], expected: 2)
        #expect(result.responses.count == 1)
        let head = try #require(result.responses.first?.head)
        #expect(result.responses.first?.body == Array("hello".utf8))
        #expect(head.headers.values("content-length") == ["5"])
        #expect(!head.headers.contains(name: "transfer-encoding"))
        #expect(head.headers.values("connection") == ["close"])
        #expect(head.headers.values("date").count == 1)
        #expect(head.headers["date"] != "Mon, 01 Jan 2001 00:00:00 GMT")
        #expect(head.headers.values("server").count == 1)
        #expect(head.headers["server"] != "handler")
        #expect(head.headers["x-kept"] == "yes")
        #expect(result.closedByServer)
    }

    @Test func expectContinueGets100BeforeTheBody() async throws {
        let result = try await withTaskExecutorPreference(group.loops[1]) { @concurrent () -> String in
            let socket = try await TCPSocket.connect(
                to: SocketAddress(numericHost: "127.0.0.1", port: server.localPort)!, on: group.loops[1], timeout: .seconds(1))
            defer { socket.close() }
            try await socket.write(Array("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n".utf8))
            socket.readDeadline = monotonicNanoseconds() + 2_000_000_000
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buffer.deallocate() }
            let first = try await socket.read(into: buffer)
            let interim = String(decoding: buffer[0..<first], as: UTF8.self)
            try await socket.write(Array("ping".utf8))
            var final = ""
            while !final.hasSuffix("ping") {
                let count = try await socket.read(into: buffer)
                if count == 0 { break }
                final += String(decoding: buffer[0..<count], as: UTF8.self)
            }
            return interim + "|" + final
        }
        #expect(result.hasPrefix("HTTP/1.1 100 Continue\r\n\r\n|HTTP/1.1 200 OK"))
        #expect(result.hasSuffix("ping"))
    }

    @Test func chunkedStreamingResponse() async throws {
        let result = try await client.exchange(["GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"], expected: 1)
        #expect(result.responses.first?.head.headers["Transfer-Encoding"] == "chunked")
        #expect(String(decoding: result.responses.first?.body ?? [], as: UTF8.self) == "part0;part1;part2;part3;part4;")
    }

    @Test func limitsAnswer413And431And414AndClose() async throws {
        let tooLargeBody = try await client.exchange(
            ["POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\n\r\n" + String(repeating: "x", count: 2048)], expected: 1)
        #expect(tooLargeBody.responses.first?.head.status.code == 413)
        #expect(tooLargeBody.closedByServer)

        let manyHeaders = (0..<150).map { "X-H\($0): v\r\n" }.joined()
        let tooMany = try await client.exchange(["GET /hello HTTP/1.1\r\nHost: t\r\n\(manyHeaders)\r\n"], expected: 1)
        #expect(tooMany.responses.first?.head.status.code == 431)

        let longTarget = "/hello?" + String(repeating: "a", count: 9000)
        let tooLong = try await client.exchange(["GET \(longTarget) HTTP/1.1\r\nHost: t\r\n\r\n"], expected: 1)
        #expect(tooLong.responses.first?.head.status.code == 414)
    }

    @Test func smugglingAttemptIsRejectedWith400AndClosed() async throws {
        let result = try await client.exchange(
            ["POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"],
            expected: 2)
        #expect(result.responses.count == 1)
        #expect(result.responses.first?.head.status.code == 400)
        #expect(result.closedByServer)
    }

    @Test func slowlorisGets408WithinTheHeaderTimeout() async throws {
        let start = monotonicNanoseconds()
        let result = try await client.exchange(
            ["GET /hello HTTP/1.1\r\n", "Host: t\r\n", "X-A: 1\r\n"], pause: .milliseconds(120), expected: 1)
        #expect(result.responses.first?.head.status.code == 408)
        #expect(monotonicNanoseconds() - start < 2_000_000_000)
    }

    @Test func idleKeepAliveConnectionIsClosedSilently() async throws {
        let result = try await withTaskExecutorPreference(group.loops[1]) { @concurrent () -> Int in
            let socket = try await TCPSocket.connect(
                to: SocketAddress(numericHost: "127.0.0.1", port: server.localPort)!, on: group.loops[1], timeout: .seconds(1))
            defer { socket.close() }
            socket.readDeadline = monotonicNanoseconds() + 3_000_000_000
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            return try await socket.read(into: buffer)
        }
        #expect(result == 0, "the server closes an idle connection without sending anything")
    }
}

@Suite("HTTP server graceful shutdown", .timeLimit(.minutes(10)))
struct ServerShutdownTests {
    @Test func shutdownFinishesInFlightRequestsClosesIdleOnesAndReturns() async throws {
        let group = try EventLoopGroupHolder.shared()
        var router = Router()
        let entered = Atomic<Int>(0)
        router.get("/slow") { request in
            entered.add(1, ordering: .relaxed)
            try await request.loop.sleep(for: .milliseconds(300))
            return .json(.ok, Array("done".utf8))
        }
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0), group: group, responder: router)
        try await server.start()
        let running = Task { await server.run() }
        let client = RawHTTPClient(port: server.localPort, loop: group.loops[1])

        // An idle keep-alive connection, and a request in flight.
        async let idle = client.exchange(["GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"], expected: 2, timeout: .seconds(3))
        async let inFlight = client.exchange(["GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"], expected: 1)
        // Both requests are in their handler when the shutdown starts (a condition, not a guess).
        #expect(await eventually { entered.load(ordering: .relaxed) == 2 })
        server.shutdown()
        let finished = try await inFlight
        #expect(finished.responses.first?.head.status == .ok)
        #expect(finished.responses.first?.head.headers["Connection"] == "close")
        let closedIdle = try await idle
        #expect(closedIdle.responses.count == 1)
        #expect(closedIdle.closedByServer)
        await running.value
        // New connections are refused once the listeners are closed.
        await #expect(throws: IOError.self) {
            _ = try await client.exchange(["GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"], expected: 1)
        }
    }
}

@Suite("HTTP server connection cap", .timeLimit(.minutes(10)))
struct ServerConnectionCapTests {
    @Test func connectionsBeyondTheCapAreClosedAtOnce() async throws {
        let group = try EventLoopGroupHolder.shared()
        var router = Router()
        router.get("/hello") { _ in .json(.ok, Array("{}".utf8)) }
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.maxConnections = 2
        let server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        let running = Task { await server.run() }
        defer { server.shutdown() }
        let loop = group.loops[1]
        let port = server.localPort
        let outcome = try await withTaskExecutorPreference(loop) { @concurrent () -> (Int, Int) in
            let address = SocketAddress(numericHost: "127.0.0.1", port: port)!
            // Two connections that stay open (each served once, so the server has counted it).
            var held: [TCPSocket] = []
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buffer.deallocate() }
            for _ in 0..<2 {
                let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(1))
                try await socket.write(Array("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
                socket.readDeadline = monotonicNanoseconds() + 2_000_000_000
                _ = try await socket.read(into: buffer)
                held.append(socket)
            }
            // The third is accepted and closed without an answer.
            let third = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(1))
            try? await third.write(Array("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
            third.readDeadline = monotonicNanoseconds() + 2_000_000_000
            let thirdRead = (try? await third.read(into: buffer)) ?? 0
            third.close()
            let open = server.openConnections
            for socket in held { socket.close() }
            return (thirdRead, open)
        }
        #expect(outcome.0 == 0, "the connection over the cap gets no response")
        #expect(outcome.1 == 2)
        server.shutdown()
        await running.value
    }
}

@Suite("HTTP server body-read timeout", .timeLimit(.minutes(10)))
struct ServerBodyTimeoutTests {
    @Test func aStalledBodyGets408AndTheConnectionCloses() async throws {
        let group = try EventLoopGroupHolder.shared()
        var router = Router()
        router.post("/echo") { request in
            HTTPServerResponse(status: .ok, body: .bytes(try await request.body.collect(upTo: 1 << 20)))
        }
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.bodyReadTimeout = .milliseconds(300)
        let server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        let running = Task { await server.run() }
        let client = RawHTTPClient(port: server.localPort, loop: group.loops[1])
        let start = monotonicNanoseconds()
        // Promises 10 bytes, sends 3, then stalls.
        let result = try await client.exchange(
            ["POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"], expected: 1)
        #expect(result.responses.first?.head.status.code == 408)
        #expect(result.closedByServer)
        #expect(monotonicNanoseconds() - start < 5_000_000_000, "the 300 ms body timeout, not the 30 s default")
        server.shutdown()
        await running.value
    }
}
