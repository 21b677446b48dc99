import HTTP
import MarqueeTesting
import Reactor
import Synchronization
import Testing

/// The client over loopback against `ClientTestServer`.
@Suite("HTTP client over loopback", .timeLimit(.minutes(10)))
struct ClientTests {
    static let group = try! EventLoopGroup(loopCount: 2)
    var serverLoop: EventLoop { Self.group.loops[0] }
    var clientLoop: EventLoop { Self.group.loops[1] }

    static func client(_ configure: (inout HTTPClient.Configuration) -> Void = { _ in }) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configure(&configuration)
        return HTTPClient(group: group, configuration: configuration)
    }

    /// Echoes the target in a keep-alive response.
    static let echoTarget: ClientTestServer.Handler = { head, _, _ in
        .raw(ClientTestServer.response(body: head.target), thenClose: false)
    }

    @Test func sequentialRequestsReuseOneKeepAliveConnection() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let client = Self.client()
        try await Task(executorPreference: clientLoop) {
            for index in 0..<50 {
                let response = try await client.get(server.url("/movies/\(index)"))
                #expect(response.status == .ok)
                #expect(response.body == Array("/movies/\(index)".utf8))
            }
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 1)
        #expect(server.requests.load(ordering: .relaxed) == 50)
        let counts = await client.poolCounts(for: server.origin, on: clientLoop)
        #expect(counts.open == 1 && counts.idle == 1)
        await client.shutdown()
        await server.stop()
    }

    @Test func callsFromOutsideTheLoopsHopToALoop() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let client = Self.client()
        let response = try await client.post(server.url("/movies/batch"), json: Array("[1,2]".utf8))
        #expect(response.body == Array("/movies/batch".utf8))
        await client.shutdown()
        await server.stop()
    }

    /// Under `NonisolatedNonsendingByDefault` a closure formed by a main-actor caller would
    /// run on the main actor unless the client marks it `@concurrent`; the pool it reaches
    /// asserts its loop, so this traps if the hop is lost (it once did, in a gateway test).
    @MainActor @Test func callsFromTheMainActorHopToALoop() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let client = Self.client()
        let response = try await client.get(server.url("/from-main"))
        #expect(response.body == Array("/from-main".utf8))
        let streamed = try await client.withConnection(to: server.origin) { connection in
            #expect(connection.loop.inLoop)
            return connection.loop.index
        }
        #expect(Self.group.loops.indices.contains(streamed))
        await client.shutdown()
        await server.stop()
    }

    @Test func twoHundredConcurrentRequestsShareFourConnections() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let client = Self.client { $0.maxConnectionsPerOrigin = 4 }
        let succeeded = try await Task(executorPreference: clientLoop) { () -> Int in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let response = try await client.get(server.url("/users/\(index)"))
                        return response.body == Array("/users/\(index)".utf8)
                    }
                }
                var count = 0
                for try await ok in group where ok { count += 1 }
                return count
            }
        }.value
        #expect(succeeded == 200)
        #expect(server.accepts.load(ordering: .relaxed) <= 4)
        #expect(server.requests.load(ordering: .relaxed) == 200)
        await client.shutdown()
        await server.stop()
    }

    @Test func refusedConnectionFailsFastAsConnectFailed() async throws {
        // A port that was just bound and closed: nothing listens there.
        let probe = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let url = probe.url("/")
        await probe.stop()
        let client = Self.client()
        let started = monotonicNanoseconds()
        await #expect {
            _ = try await client.get(url)
        } throws: { error in
            guard let error = error as? HTTPClientError else { return false }
            return error.code == .connectFailed && !error.requestMayHaveBeenSent
        }
        #expect(monotonicNanoseconds() - started < 900_000_000)  // well below connectTimeout
        await client.shutdown()
    }

    /// A listener that never accepts, with its queue full: the kernel drops further SYNs,
    /// so a connect can only time out (loopback only, no unroutable address needed).
    @Test func unansweredConnectFailsWithConnectTimeout() async throws {
        let blackhole = try await UnansweringListener.start(on: serverLoop)
        let client = Self.client { $0.connectTimeout = .milliseconds(200) }
        let started = monotonicNanoseconds()
        await #expect {
            _ = try await client.get("http://127.0.0.1:\(blackhole.port)/")
        } throws: { error in
            guard let error = error as? HTTPClientError else { return false }
            return error.code == .connectTimeout && !error.requestMayHaveBeenSent
        }
        let elapsed = monotonicNanoseconds() - started
        // The configured 200 ms; loose above for loaded CI machines.
        #expect(elapsed >= 180_000_000 && elapsed < 3_000_000_000)
        await client.shutdown()
        await blackhole.stop()
    }

    @Test func silentServerFailsWithResponseTimeoutInTime() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in .silence }
        let client = Self.client { $0.responseTimeout = .milliseconds(200) }
        let started = monotonicNanoseconds()
        await #expect {
            _ = try await client.get(server.url("/slow"))
        } throws: { error in
            guard let error = error as? HTTPClientError else { return false }
            return error.code == .responseTimeout && error.requestMayHaveBeenSent
        }
        let elapsed = monotonicNanoseconds() - started
        // The configured 200 ms, not the 5 s default; loose above for loaded CI machines.
        #expect(elapsed >= 180_000_000 && elapsed < 3_000_000_000)
        await client.shutdown()
        await server.stop()
    }

    @Test func overallTimeoutCapsTheResponseTimeout() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in .silence }
        let client = Self.client()
        let started = monotonicNanoseconds()
        await #expect(throws: HTTPClientError.self) {
            _ = try await client.get(server.url("/slow"), timeout: .milliseconds(100))
        }
        // The 100 ms cap, not the 5 s response timeout; loose for loaded CI machines.
        #expect(monotonicNanoseconds() - started < 3_000_000_000)
        await client.shutdown()
        await server.stop()
    }

    /// The server answers with keep-alive, then closes the connection while it sits in
    /// the pool: its FIN arrives first, so the pool does not lend it out again and the next
    /// GET goes on a fresh connection without the caller noticing.
    @Test func aConnectionTheServerClosedWhileIdleIsNotLentOut() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { head, _, _ in
            .raw(ClientTestServer.response(body: head.target), thenClose: true)
        }
        let client = Self.client()
        try await Task(executorPreference: clientLoop) {
            let first = try await client.get(server.url("/a"))
            #expect(first.body == Array("/a".utf8))
            try await clientLoop.sleep(for: .milliseconds(50))  // the server's FIN arrives
            // A POST too: it could not be retried, so it must not meet the dead connection.
            let second = try await client.post(server.url("/b"), json: Array("[1]".utf8))
            #expect(second.body == Array("/b".utf8))
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 2)
        await client.shutdown()
        await server.stop()
    }

    /// A server that answers the first request on each connection (keep-alive) and closes the
    /// connection, unanswered, as the second arrives: the close races the request.
    func serverClosingAsTheSecondRequestArrives() async throws -> ClientTestServer {
        try await ClientTestServer.start(on: serverLoop) { head, _, index in
            index == 1 ? .close : .raw(ClientTestServer.response(body: head.target), thenClose: false)
        }
    }

    /// The close races the request (the server closes the reused connection as the request
    /// arrives, unanswered): a GET is sent again on a fresh connection.
    @Test func staleConnectionIsRetriedOnceForGET() async throws {
        let server = try await serverClosingAsTheSecondRequestArrives()
        let client = Self.client()
        try await Task(executorPreference: clientLoop) {
            let first = try await client.get(server.url("/a"))
            #expect(first.body == Array("/a".utf8))
            let second = try await client.get(server.url("/b"))
            #expect(second.body == Array("/b".utf8))
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 2)
        await client.shutdown()
        await server.stop()
    }

    @Test func staleConnectionIsNotRetriedForPOST() async throws {
        let server = try await serverClosingAsTheSecondRequestArrives()
        let client = Self.client()
        let failure = try await Task(executorPreference: clientLoop) { () -> HTTPClientError? in
            _ = try await client.get(server.url("/warm-up"))
            do {
                _ = try await client.post(server.url("/movies/batch"), json: Array("[1]".utf8))
                return nil
            } catch let error as HTTPClientError {
                return error
            }
        }.value
        let error = try #require(failure)
        #expect(error.code == .connectionClosed)
        #expect(error.isStaleConnection)
        #expect(error.requestMayHaveBeenSent)
        #expect(server.accepts.load(ordering: .relaxed) == 1)  // no second connection: no retry
        await client.shutdown()
        await server.stop()
    }

    /// A draining server answers a request it did not read with 408 and closes (see
    /// HTTPConnectionStateMachine.EndAction): on a reused connection the client sends the
    /// request again on a fresh one, a POST too, since the server never read it.
    @Test func aPOSTAnswered408OnAReusedConnectionIsSentAgainOnce() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { head, _, index in
            index == 1
                ? .raw(ClientTestServer.response(status: 408, body: "{}", headers: [("Connection", "close")]), thenClose: true)
                : .raw(ClientTestServer.response(body: head.target), thenClose: false)
        }
        let client = Self.client()
        try await Task(executorPreference: clientLoop) {
            _ = try await client.get(server.url("/warm-up"))
            let post = try await client.post(server.url("/movies"), json: Array("{}".utf8))
            #expect(post.status.code == 200)
            #expect(post.body == Array("/movies".utf8))
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 2)
        #expect(server.requests.load(ordering: .relaxed) == 3)
        await client.shutdown()
        await server.stop()
    }

    @Test func chunkedResponsesAreDecodedAndKeepTheConnection() async throws {
        let chunked = Array(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n".utf8)
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in .raw(chunked, thenClose: false) }
        let client = Self.client()
        try await Task(executorPreference: clientLoop) {
            for _ in 0..<3 {
                let response = try await client.get(server.url("/chunked"))
                #expect(response.body == Array("hello world".utf8))
            }
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 1)
        await client.shutdown()
        await server.stop()
    }

    @Test func untilCloseResponsesEndAtCloseAndAreNotReused() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in
            .raw(Array("HTTP/1.1 200 OK\r\n\r\nuntil close".utf8), thenClose: true)
        }
        let client = Self.client()
        try await Task(executorPreference: clientLoop) {
            for _ in 0..<2 {
                let response = try await client.get(server.url("/"))
                #expect(response.body == Array("until close".utf8))
            }
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 2)
        await client.shutdown()
        await server.stop()
    }

    @Test(arguments: [
        ("HTTP/1.1", [("Connection", "close")]),
        ("HTTP/1.0", []),
    ])
    func connectionCloseAndHTTP10AreHonoured(version: String, headers: [(String, String)]) async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in
            // The server keeps its side open: only the client's keep-alive rule closes it.
            .raw(ClientTestServer.response(body: "x", headers: headers, version: version), thenClose: false)
        }
        let client = Self.client()
        try await Task(executorPreference: clientLoop) {
            for _ in 0..<3 { _ = try await client.get(server.url("/")) }
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 3)
        await client.shutdown()
        await server.stop()
    }

    @Test func headResponsesHaveNoBodyAndKeepTheConnection() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in
            .raw(Array("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".utf8), thenClose: false)
        }
        let client = Self.client()
        try await Task(executorPreference: clientLoop) {
            for _ in 0..<2 {
                let response = try await client.execute(HTTPClientRequest(method: .HEAD, url: server.url("/")))
                #expect(response.body.isEmpty)
                #expect(response.headers["content-length"] == "1000")
            }
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 1)
        await client.shutdown()
        await server.stop()
    }

    @Test func interimResponsesAreSkipped() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in
            .raw(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8) + ClientTestServer.response(body: "final"), thenClose: false)
        }
        let client = Self.client()
        let response = try await client.post(server.url("/"), json: Array("{}".utf8))
        #expect(response.status == .ok && response.body == Array("final".utf8))
        await client.shutdown()
        await server.stop()
    }

    @Test func aCancelledWaiterLeavesTheQueue() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let client = Self.client { $0.maxConnectionsPerOrigin = 1 }
        let loop = clientLoop
        try await Task(executorPreference: loop) {
            let held = try await client.connection(to: server.origin)
            let waiting = Task(executorPreference: loop) { try await client.get(server.url("/never")) }
            try await loop.sleep(for: .milliseconds(10))
            #expect(await client.poolCounts(for: server.origin, on: loop).waiting == 1)
            waiting.cancel()
            await #expect {
                _ = try await waiting.value
            } throws: { ($0 as? HTTPClientError)?.code == .cancelled }
            #expect(await client.poolCounts(for: server.origin, on: loop).waiting == 0)
            held.release()
        }.value
        await client.shutdown()
        await server.stop()
    }

    @Test func bodiesOverTheLimitFailWithBodyTooLarge() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in
            .raw(ClientTestServer.response(body: String(repeating: "z", count: 2000)), thenClose: false)
        }
        let client = Self.client { $0.maxResponseBodySize = 1000 }
        await #expect {
            _ = try await client.get(server.url("/big"))
        } throws: { ($0 as? HTTPClientError)?.code == .bodyTooLarge }
        await client.shutdown()
        await server.stop()
    }

    @Test func invalidResponsesFailWithTheParserVerdict() async throws {
        let server = try await ClientTestServer.start(on: serverLoop) { _, _, _ in
            .raw(Array("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8), thenClose: false)
        }
        let client = Self.client()
        await #expect {
            _ = try await client.get(server.url("/"))
        } throws: { error in
            guard let error = error as? HTTPClientError else { return false }
            return error.code == .invalidResponse && error.parseError?.code == .conflictingLengths
        }
        await client.shutdown()
        await server.stop()
    }

    @Test func waitersTimeOutWhenThePoolStaysBusy() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let client = Self.client {
            $0.maxConnectionsPerOrigin = 1
            $0.maxWaitersPerOrigin = 1
            $0.poolWaitTimeout = .milliseconds(300)
        }
        let loop = clientLoop
        try await Task(executorPreference: loop) {
            let held = try await client.connection(to: server.origin)
            // One waiter times out ...
            let started = monotonicNanoseconds()
            async let waiting = client.get(server.url("/waits"))
            let queued = await eventually(interval: .milliseconds(2)) {
                await client.poolCounts(for: server.origin, on: loop).waiting == 1
            }
            #expect(queued)
            // ... and a second caller finds the queue full at once.
            await #expect {
                _ = try await client.get(server.url("/queue-full"))
            } throws: { ($0 as? HTTPClientError)?.code == .poolQueueFull }
            do {
                _ = try await waiting
                Issue.record("a waiter got a connection that was never released")
            } catch {
                let clientError = error as? HTTPClientError
                #expect(clientError?.code == .poolTimeout)
                #expect(clientError?.requestMayHaveBeenSent == false)
            }
            let elapsed = monotonicNanoseconds() - started
            // The configured 300 ms pool wait, not the 5 s default.
            #expect(elapsed >= 290_000_000 && elapsed < 4_000_000_000)
            // Once released, the connection serves the next caller.
            held.release()
            let response = try await client.get(server.url("/after"))
            #expect(response.body == Array("/after".utf8))
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 1)
        await client.shutdown()
        await server.stop()
    }

    @Test func releasedConnectionsGoStraightToWaiters() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let client = Self.client { $0.maxConnectionsPerOrigin = 1 }
        let loop = clientLoop
        try await Task(executorPreference: loop) {
            let held = try await client.connection(to: server.origin)
            async let waiting = client.get(server.url("/next"))
            try await loop.sleep(for: .milliseconds(20))
            // An unused lease is reusable: the waiter gets this very connection.
            held.release()
            #expect(try await waiting.body == Array("/next".utf8))
        }.value
        #expect(server.accepts.load(ordering: .relaxed) == 1)
        await client.shutdown()
        await server.stop()
    }

    @Test func idleConnectionsAreClosedByTheSweepTimer() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let client = Self.client { $0.idleTimeout = .milliseconds(200) }
        let loop = clientLoop
        let idleAfterUse = try await Task(executorPreference: loop) {
            _ = try await client.get(server.url("/"))
            return await client.poolCounts(for: server.origin, on: loop).idle  // same loop: no hop, no delay
        }.value
        #expect(idleAfterUse == 1)
        // The sweep runs on its own timer: wait for its effect rather than guess when it ran.
        let closed = await eventually {
            let counts = await client.poolCounts(for: server.origin, on: loop)
            return counts.open == 0 && counts.idle == 0
        }
        let counts = await client.poolCounts(for: server.origin, on: loop)
        #expect(closed, "open \(counts.open), idle \(counts.idle)")
        await client.shutdown()
        await server.stop()
    }

    /// Idle connections refer to their pool (strongly: see `HTTPClientConnection.pool`), so
    /// only the client's deinit can close them when nobody calls `shutdown()`.
    @Test func aClientDroppedWithoutShutdownClosesItsIdleConnections() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let loop = clientLoop
        func useOnceAndDrop() async throws {
            let client = Self.client()
            try await Task(executorPreference: loop) { _ = try await client.get(server.url("/")) }.value
            #expect(server.finished.load(ordering: .relaxed) == 0)  // kept alive in the pool
        }
        try await useOnceAndDrop()
        let deadline = ContinuousClock.now + .seconds(2)
        while server.finished.load(ordering: .relaxed) == 0 && ContinuousClock.now < deadline {
            try await serverLoop.sleep(for: .milliseconds(10))
        }
        #expect(server.finished.load(ordering: .relaxed) == 1)
        await server.stop()
    }

    @Test func httpsWithoutATransportHookIsRefused() async throws {
        let client = Self.client()
        await #expect {
            _ = try await client.get("https://127.0.0.1:1/")
        } throws: { ($0 as? HTTPClientError)?.code == .unsupportedScheme }
        await client.shutdown()
    }

    @Test func theTransportHookWrapsEveryNewConnection() async throws {
        let server = try await ClientTestServer.start(on: serverLoop, handler: Self.echoTarget)
        let wrapped = Atomic<Int>(0)
        let client = Self.client { configuration in
            configuration.makeTransport = { socket, host in
                #expect(host == "127.0.0.1")
                wrapped.add(1, ordering: .relaxed)
                return socket
            }
        }
        // `https` here only selects the hook; the test "TLS" is the plain socket.
        let origin = HTTPOrigin(scheme: "https", host: "127.0.0.1", port: server.port)
        let response = try await client.execute(HTTPClientRequest(origin: origin, target: "/tls"))
        #expect(response.body == Array("/tls".utf8))
        #expect(wrapped.load(ordering: .relaxed) == 1)
        await client.shutdown()
        await server.stop()
    }
}
