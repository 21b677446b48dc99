import Gateway
import HTTP
import MarqueeTesting
import Reactor
import Synchronization
import Testing

/// Retries on another instance: an idempotent request whose instance closed the connection
/// before any response byte is answered by another instance; a POST never is sent twice;
/// an instance that drains or dies under load costs no request.
@Suite(.serialized, .timeLimit(.minutes(3))) struct GatewayRetryTests {
    @Test func idempotentRequestsMoveToAnotherInstanceWhenOneClosesWithoutAnswer() async throws {
        let closing = try await AnswerlessUpstream.start()
        let healthy = try await HoldingUpstream.start(name: "b")
        let gateway = try await OneLoopGateway.start(movies: [closing.url, healthy.url]) {
            $0.ejectAfterFailures = 1000  // keep the closing instance in the rotation
        }
        for _ in 0..<6 {
            let response = try await gateway.client.execute(
                HTTPClientRequest(method: .GET, origin: gateway.origin, target: "/api/movies/1"))
            #expect(response.status == .ok)
            #expect(text(response.body).contains(#""instance":"b""#))
        }
        for _ in 0..<4 {
            let put = try await gateway.client.execute(
                HTTPClientRequest(method: .PUT, origin: gateway.origin, target: "/api/movies/1", body: Array("{\"a\":1}".utf8)))
            #expect(put.status == .ok)
            #expect(text(put.body) == #"{"instance":"b","body":7}"#)
        }
        #expect(closing.received.load(ordering: .relaxed) >= 3, "round-robin sent some requests to the closing instance")
        #expect(gateway.server.gateway.instanceRetries.load(ordering: .relaxed) == closing.received.load(ordering: .relaxed))

        // A POST without a key may have done its work before the connection closed: never
        // sent twice (a route whose service stores no keys).
        let before = closing.received.load(ordering: .relaxed)
        var failed = 0
        for _ in 0..<4 {
            let post = try await gateway.client.execute(
                HTTPClientRequest(method: .POST, origin: gateway.origin, target: "/api/movies/1/x", body: Array("{}".utf8)))
            if post.status == .badGateway { failed += 1 } else { #expect(post.status == .ok) }
        }
        #expect(failed >= 1)
        #expect(failed == closing.received.load(ordering: .relaxed) - before)
        await gateway.stop()
        await healthy.stop()
        await closing.stop()
    }

    /// A POST to a route whose service stores `Idempotency-Key`s carries one upstream (the
    /// client's, else a random one the gateway adds), so it is sent to another instance,
    /// with the same key, after a close without answer: the instance that got it twice
    /// answers from the first. The read-only batch POST is sent again as it is.
    @Test func keyedPOSTsMoveToAnotherInstanceWithTheirKeyWhenOneClosesWithoutAnswer() async throws {
        let closing = try await AnswerlessUpstream.start()
        let healthy = try await HoldingUpstream.start(name: "b")
        let gateway = try await OneLoopGateway.start(movies: [closing.url, healthy.url]) {
            $0.ejectAfterFailures = 1000  // keep the closing instance in the rotation
        }
        var answeredKeys: [String] = []
        for attempt in 0..<6 {
            var request = HTTPClientRequest(
                method: .POST, origin: gateway.origin, target: "/api/movies", body: Array("{}".utf8))
            if attempt == 0 { request.headers.add(name: "Idempotency-Key", value: "client-chosen key 1") }
            let response = try await gateway.client.execute(request)
            #expect(response.status == .ok)
            let body = text(response.body)
            #expect(body.contains(#""instance":"b""#))
            let key = body.split(separator: "\"key\":\"").last.map { String($0.prefix { $0 != "\"" }) } ?? ""
            if attempt == 0 {
                #expect(key == "client-chosen key 1", "the client's key is passed on as it is")
            } else {
                #expect(key.utf8.count == 32 && key.allSatisfy(\.isHexDigit), "the gateway's random key: \(body)")
            }
            answeredKeys.append(key)
        }
        #expect(Set(answeredKeys).count == 6, "a key per request")
        let resent = closing.keys.withLock { $0 }
        #expect(resent.count >= 2, "round-robin sent some POSTs to the closing instance")
        #expect(Set(resent).isSubset(of: answeredKeys), "sent again with the key it had: \(resent)")
        #expect(gateway.server.gateway.instanceRetries.load(ordering: .relaxed) == resent.count)

        for _ in 0..<4 {
            let batch = try await gateway.client.execute(
                HTTPClientRequest(
                    method: .POST, origin: gateway.origin, target: "/api/movies/batch", body: Array("{}".utf8)))
            #expect(batch.status == .ok)
            #expect(!text(batch.body).contains(#""key""#), "no key on a route that stores none")
        }
        #expect(closing.received.load(ordering: .relaxed) > resent.count, "a batch POST met the closing instance too")
        await gateway.stop()
        await healthy.stop()
        await closing.stop()
    }

    /// An instance that answers 408 (a draining one: it read nothing of the request, see
    /// HTTPConnectionStateMachine.EndAction): every request, a POST too, is sent to the
    /// other instance; with no other, it is tried again and then answered 503 + Retry-After.
    @Test func requestsAnswered408AreSentAgainWhateverTheirMethod() async throws {
        let notReading = try await AnswerlessUpstream.start(answer: Self.drainAnswer)
        let healthy = try await HoldingUpstream.start(name: "b")
        let gateway = try await OneLoopGateway.start(movies: [notReading.url, healthy.url]) {
            $0.ejectAfterFailures = 1000
        }
        for method in [HTTPMethod.POST, .GET, .POST, .DELETE, .POST, .PUT] {
            let response = try await gateway.client.execute(
                HTTPClientRequest(method: method, origin: gateway.origin, target: "/api/movies", body: Array("{}".utf8)))
            #expect(response.status == .ok, "\(method.rawValue)")
            #expect(text(response.body).contains(#""instance":"b""#))
        }
        let sentTwice = gateway.server.gateway.unreadRetries.load(ordering: .relaxed)
        #expect(notReading.received.load(ordering: .relaxed) >= 2, "round-robin sent some to the 408 instance")
        #expect(sentTwice == notReading.received.load(ordering: .relaxed))
        #expect(healthy.served.load(ordering: .relaxed) == 6, "each request handled once")
        await gateway.stop()
        await healthy.stop()

        let alone = try await OneLoopGateway.start(movies: [notReading.url])
        let before = notReading.received.load(ordering: .relaxed)
        let post = try await alone.client.execute(
            HTTPClientRequest(method: .POST, origin: alone.origin, target: "/api/movies", body: Array("{}".utf8)))
        #expect(post.status.code == 503)
        #expect(post.headers["Retry-After"] == "1")
        #expect(notReading.received.load(ordering: .relaxed) - before == 3, "three tries in all")
        await alone.stop()
        await notReading.stop()
    }

    static let drainAnswer = Array(
        "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}".utf8)

    @Test func retryCanBeTurnedOff() async throws {
        let closing = try await AnswerlessUpstream.start()
        let healthy = try await HoldingUpstream.start(name: "b")
        let gateway = try await OneLoopGateway.start(movies: [closing.url, healthy.url]) {
            $0.ejectAfterFailures = 1000
            $0.retryIdempotent = false
        }
        var failed = 0
        for _ in 0..<4 {
            let response = try await gateway.client.execute(
                HTTPClientRequest(method: .GET, origin: gateway.origin, target: "/api/movies/1"))
            if response.status == .badGateway { failed += 1 }
        }
        #expect(failed == closing.received.load(ordering: .relaxed))
        #expect(failed >= 1)
        await gateway.stop()
        await healthy.stop()
        await closing.stop()
    }

    /// A rolling restart: each instance in turn drains (SIGTERM's path) and comes back on
    /// its port, under a steady load of reads, idempotent writes and POSTs (a POST that
    /// meets a drained connection is met by a 408 and sent to the other instance).
    @Test func rollingRestartUnderLoadLosesNoRequest() async throws {
        var a = try await HoldingUpstream.start(name: "a")
        var b = try await HoldingUpstream.start(name: "b")
        let portA = a.server.localPort
        let portB = b.server.localPort
        let gateway = try await OneLoopGateway.start(movies: [a.url, b.url])
        let load = LoadUnderTest(gateway: gateway, workers: 16, posts: true)
        let running = Task { await load.run() }
        try await Task.sleep(for: .milliseconds(300))
        await a.stop()
        a = try await HoldingUpstream.start(name: "a2", port: portA)
        try await Task.sleep(for: .milliseconds(300))
        await b.stop()
        b = try await HoldingUpstream.start(name: "b2", port: portB)
        try await Task.sleep(for: .milliseconds(300))
        load.stop()
        let result = await running.value
        #expect(result.failures == [:], "\(result)")
        #expect(result.succeeded > 100)
        await gateway.stop()
        await a.stop()
        await b.stop()
    }

    /// An instance that dies with requests in flight (its connections closed without an
    /// answer, as a kill -9 does): the reads and idempotent writes it held are answered by
    /// the other instance.
    @Test func instanceDyingWithRequestsInFlightLosesNoIdempotentRequest() async throws {
        let dying = try await HoldingUpstream.start(name: "a", drainTimeout: .zero)
        let healthy = try await HoldingUpstream.start(name: "b")
        let gateway = try await OneLoopGateway.start(movies: [dying.url, healthy.url])
        let load = LoadUnderTest(gateway: gateway, workers: 16)
        let running = Task { await load.run() }
        try await Task.sleep(for: .milliseconds(300))
        await dying.stop()
        try await Task.sleep(for: .milliseconds(300))
        load.stop()
        let result = await running.value
        #expect(result.failures == [:], "\(result)")
        #expect(result.succeeded > 50)
        #expect(gateway.server.gateway.instanceRetries.load(ordering: .relaxed) + gateway.server.gateway.connectRetries.load(ordering: .relaxed) > 0)
        await gateway.stop()
        await healthy.stop()
    }
}

/// Workers that send GETs (each held 20 ms upstream), PUTs and maybe POSTs through a gateway over
/// keep-alive connections until stopped, counting every answer that is not a 200.
final class LoadUnderTest: Sendable {
    let gateway: OneLoopGateway
    let workers: Int
    /// Whether a third of the requests are POSTs (never sent twice after a close without
    /// answer, so only where instances drain rather than die).
    let posts: Bool
    private let stopped = Atomic<Bool>(false)

    struct Result: Sendable, CustomStringConvertible {
        var succeeded = 0
        var failures: [String: Int] = [:]
        var description: String { "succeeded \(succeeded), failures \(failures)" }
    }

    init(gateway: OneLoopGateway, workers: Int, posts: Bool = false) {
        self.gateway = gateway
        self.workers = workers
        self.posts = posts
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    func run() async -> Result {
        await withTaskGroup(of: Result.self) { group in
            for worker in 0..<workers {
                group.addTask { await self.work(worker) }
            }
            var total = Result()
            for await part in group {
                total.succeeded += part.succeeded
                total.failures.merge(part.failures, uniquingKeysWith: +)
            }
            return total
        }
    }

    private func work(_ worker: Int) async -> Result {
        var result = Result()
        var count = 0
        while !stopped.load(ordering: .relaxed) {
            count += 1
            let request =
                switch count % 3 {
                case 0: HTTPClientRequest(method: .PUT, origin: gateway.origin, target: "/api/movies/\(worker)", body: Array("{}".utf8))
                case 1 where posts: HTTPClientRequest(method: .POST, origin: gateway.origin, target: "/api/movies", body: Array("{}".utf8))
                default: HTTPClientRequest(method: .GET, origin: gateway.origin, target: "/api/movies/hold/20")
                }
            do {
                let response = try await gateway.client.execute(request, timeout: .seconds(20))
                if response.status == .ok {
                    result.succeeded += 1
                } else {
                    result.failures["\(request.method.rawValue) \(response.status.code) \(text(response.body))", default: 0] += 1
                }
            } catch {
                result.failures["\(request.method.rawValue) \(error)", default: 0] += 1
            }
        }
        return result
    }
}

/// An instance that reads each request and closes the connection without a word (a
/// process that dies as it receives it), or with `answer` only (a 408: one that drains).
final class AnswerlessUpstream: Sendable {
    let listener: TCPListener
    let received = Atomic<Int>(0)
    /// The `Idempotency-Key` of each request that had one, in arrival order.
    let keys = Mutex<[String]>([])
    private let task: Task<Void, Never>

    var url: UpstreamURL { UpstreamURL(host: "127.0.0.1", port: listener.localAddress.port) }

    private init(listener: TCPListener, task: Task<Void, Never>) {
        self.listener = listener
        self.task = task
    }

    static func start(answer: [UInt8]? = nil) async throws -> AnswerlessUpstream {
        let loop = try EventLoopGroupHolder.shared().loops[0]
        let listener = try await Task(executorPreference: loop) {
            try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop, reusePort: false)
        }.value
        let counter = Counter()
        let task = Task(executorPreference: loop) {
            await withDiscardingTaskGroup { group in
                while let socket = try? await listener.accept() {
                    group.addTask(executorPreference: loop) {
                        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
                        defer { buffer.deallocate() }  // after the read: the socket writes into it until then
                        socket.readDeadline = monotonicNanoseconds() &+ 5_000_000_000
                        let count = (try? await socket.read(into: buffer)) ?? 0
                        if count > 0 { counter.upstream?.received.add(1, ordering: .relaxed) }
                        let head = String(decoding: buffer.prefix(count), as: UTF8.self)
                        if let key = head.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("idempotency-key:") }) {
                            let value = key.dropFirst("idempotency-key:".count).drop { $0 == " " }
                            counter.upstream?.keys.withLock { $0.append(String(value)) }
                        }
                        if count > 0, let answer { try? await socket.write(answer) }
                        socket.close()
                    }
                }
            }
        }
        let upstream = AnswerlessUpstream(listener: listener, task: task)
        counter.upstream = upstream
        return upstream
    }

    func stop() async {
        let listener = self.listener
        await Task(executorPreference: listener.loop) { listener.close() }.value
        await task.value
    }

    private final class Counter: @unchecked Sendable {
        weak var upstream: AnswerlessUpstream?
    }
}
