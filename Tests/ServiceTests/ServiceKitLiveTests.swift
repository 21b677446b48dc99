import HTTP
import Logging
import MarqueeTesting
import Reactor
import Synchronization
import Telemetry
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import ServiceKit

/// The responder behind a real ``HTTPServer`` on an ephemeral port, over a socket.
@Suite(.timeLimit(.minutes(10))) struct ServiceKitLiveTests {
    /// Sends one raw request and reads one response (framed by Content-Length).
    ///
    /// Not "until EOF": on this reactor a FIN that arrives together with the last data can
    /// be missed after a short read (TCPSocket clears `mayRead` on a short read; reported),
    /// so the client delimits the response itself.
    func exchange(_ request: String, port: Int, loop: EventLoop) async throws -> String {
        let address = try #require(SocketAddress(numericHost: "127.0.0.1", port: port))
        return try await withTaskExecutorPreference(loop) { @concurrent in
            let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
            defer { socket.close() }
            try await socket.write(Array(request.utf8))
            var received: [UInt8] = []
            // Scoped buffer: freed when the exchange ends.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buffer.deallocate() }
            socket.readDeadline = monotonicNanoseconds() + 3_000_000_000
            while true {
                let n: Int
                do {
                    n = try await socket.read(into: buffer)
                } catch {
                    Issue.record("read failed after: \(String(decoding: received, as: UTF8.self))")
                    throw error
                }
                if n == 0 { break }
                received.append(contentsOf: buffer[0..<n])
                if Self.isComplete(received) { break }
            }
            return String(decoding: received, as: UTF8.self)
        }
    }

    static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.firstRange(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingPrefix(" "))
        else { return true }
        return text[end.upperBound...].utf8.count >= length
    }

    @Test func servesOverTCPAndDrains() async throws {
        let group = ServiceKitTestLoops.group
        var router = ServiceRouter()
        let slowEntered = Atomic<Int>(0)
        router.get("/api/slow") { request in
            slowEntered.add(1, ordering: .relaxed)
            try await request.loop.sleep(for: .milliseconds(300))
            return .json(.ok, Array(#"{"done":true}"#.utf8))
        }
        let logs = LogCapture()
        let responder = ServiceResponder(
            service: "live", router: router, logger: Logger(service: "live", sink: logs.sink),
            metrics: Metrics(service: "live", loopCount: 2),
            healthChecks: [HealthCheck(name: "database") { true }])
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0), group: group, responder: responder)
        try await server.start()
        let port = server.localPort
        #expect(port > 0)

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await server.run() }
            let health = try await exchange(
                "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-ID: live-1\r\n\r\n",
                port: port, loop: group.loops[1])
            #expect(health.hasPrefix("HTTP/1.1 200"))
            #expect(health.contains("X-Request-ID: live-1"))
            #expect(health.contains(#"{"status":"healthy","service":"live","checks":{"database":"ok"}}"#))

            // A request in flight when shutdown starts still gets its answer.
            async let slow = exchange("GET /api/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                      port: port, loop: group.loops[1])
            // The request is in its handler when the shutdown starts (a condition, not a guess).
            #expect(await eventually { slowEntered.load(ordering: .relaxed) == 1 })
            server.shutdown()
            let answer = try await slow
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            #expect(answer.contains(#"{"done":true}"#))
            try await tasks.next()
        }
        #expect(logs.captured.contains { $0.contains(#""route":"/api/slow""#) })
    }
}

@Suite(.timeLimit(.minutes(10))) struct ServiceKitRunnerTests {
    /// What a test and the service it runs share.
    final class Shared: Sendable {
        let order = Mutex<[String]>([])
        let port = Mutex<Int>(0)
        let entered = Atomic<Int>(0)
    }

    /// Runs a service with `routes` on a free port until `stop` ends it; its shutdown hooks
    /// record "pool" then "client" in `shared.order`. Answers the exit code.
    static func runService(
        logs: LogCapture, shared: Shared, stop: AsyncStream<Int32>,
        routes: @escaping @Sendable (inout ServiceRouter) -> Void
    ) async throws -> Int32 {
        let parsed = try ServiceConfiguration.parse(
            settings: [.host, .port(default: 0), .authRequired, .authSecret], environment: [:], arguments: [])
        guard case .configuration(let configuration) = parsed else {
            Issue.record("expected a configuration, got \(parsed)")
            return -1
        }
        return await ServiceRunner.run(
            name: "runner-test", configuration: configuration, group: ServiceKitTestLoops.group,
            logger: Logger(service: "runner-test", sink: logs.sink),
            make: { context in
                var router = ServiceRouter()
                routes(&router)
                return ServiceDefinition(
                    router: router, healthChecks: [HealthCheck(name: "database") { true }],
                    shutdownHooks: [
                        { shared.order.withLock { $0.append("pool") } },
                        { shared.order.withLock { $0.append("client") } },
                    ])
            },
            stopRequests: stop, started: { bound in shared.port.withLock { $0 = bound } })
    }

    @Test func runsDrainsAndRunsHooksInReverseOrder() async throws {
        let group = ServiceKitTestLoops.group
        let logs = LogCapture()
        let shared = Shared()
        let (stop, stopper) = AsyncStream<Int32>.makeStream()
        let live = ServiceKitLiveTests()
        try await withThrowingTaskGroup(of: Int32.self) { tasks in
            tasks.addTask {
                try await Self.runService(logs: logs, shared: shared, stop: stop) { router in
                    router.get("/api/ping") { _ in .json(.ok, Array(#"{"pong":true}"#.utf8)) }
                }
            }
            #expect(await eventually { shared.port.withLock { $0 } > 0 })
            let bound = shared.port.withLock { $0 }
            let ping = try await live.exchange("GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n", port: bound,
                                               loop: group.loops[0])
            #expect(ping.hasPrefix("HTTP/1.1 200") && ping.contains(#"{"pong":true}"#))
            let metrics = try await live.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", port: bound,
                                                  loop: group.loops[1])
            #expect(metrics.contains(#"route="/api/ping",status="200"} 1"#))
            stopper.yield(SIGTERM)
            let code = try await tasks.next()
            #expect(code == 0)
        }
        #expect(shared.order.withLock { $0 } == ["client", "pool"])
        let lines = logs.captured
        #expect(lines.first?.contains(#""msg":"started""#) == true)
        #expect(lines.contains { $0.contains(#""msg":"shutting down""#) })
        #expect(lines.last?.contains(#""msg":"stopped""#) == true)
    }

    /// A second stop signal during the drain stops at once: the request still in its handler
    /// (which would run for a minute, past the 10 s drain) loses its connection, the shutdown
    /// work still runs in reverse order, and the exit code is 130.
    @Test func aSecondSignalStopsWithoutWaitingForTheDrain() async throws {
        let group = ServiceKitTestLoops.group
        let logs = LogCapture()
        let shared = Shared()
        let (stop, stopper) = AsyncStream<Int32>.makeStream()
        let live = ServiceKitLiveTests()
        try await withThrowingTaskGroup(of: Int32.self) { tasks in
            tasks.addTask {
                try await Self.runService(logs: logs, shared: shared, stop: stop) { router in
                    router.get("/api/hang") { request in
                        shared.entered.add(1, ordering: .relaxed)
                        try await request.loop.sleep(for: .seconds(60))
                        return .json(.ok, Array(#"{"done":true}"#.utf8))
                    }
                }
            }
            #expect(await eventually { shared.port.withLock { $0 } > 0 })
            let port = shared.port.withLock { $0 }
            async let hanging = live.exchange(
                "GET /api/hang HTTP/1.1\r\nHost: x\r\n\r\n", port: port, loop: group.loops[1])
            #expect(await eventually { shared.entered.load(ordering: .relaxed) == 1 })
            stopper.yield(SIGTERM)
            #expect(await eventually { logs.captured.contains { $0.contains(#""msg":"shutting down""#) } })
            stopper.yield(SIGINT)
            let code = try await tasks.next()
            #expect(code == 130)
            // The handler did not finish: its connection ended without its answer.
            let answer = try await hanging
            #expect(!answer.contains("done"), "\(answer)")
        }
        #expect(shared.order.withLock { $0 } == ["client", "pool"])
        #expect(logs.captured.contains { $0.contains("second signal") })
    }
}
