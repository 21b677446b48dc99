import CLinux
import MarqueeTesting
import Reactor
import Testing

@testable import HTTP

#if canImport(Glibc)
import Glibc
#endif

/// With the group's loops pinned one per CPU, a request is served by the loop on the CPU
/// that received its connection (on loopback: the client thread's CPU).
@Suite("HTTP server: connections accepted by CPU", .timeLimit(.minutes(10)))
struct ServerAffinityTests {
    @Test func eachRequestIsServedOnTheLoopOfItsClientsCPU() async throws {
        try await Self.withServer { server, group in
            #expect(server.steersConnectionsByCPU == (group.pinnedCPUs != nil))
            guard let cpus = group.pinnedCPUs else {
                try await Self.checkOneCPUServesOnLoopZero(server, requests: 8)
                return
            }
            for (loopIndex, cpu) in cpus.enumerated() {
                for _ in 0..<8 {
                    let answer = try await Self.get("/loop", port: server.localPort, fromCPU: cpu)
                    #expect(answer == "\(loopIndex) \(cpu)", "a client on CPU \(cpu)")
                }
            }
        }
    }

    /// A client whose connections all arrive on one CPU (on loopback: its threads connect
    /// from one core) still gets every loop: past a margin, the accepting loop hands new
    /// connections to the least busy one. Without that, all 32 land on one loop.
    @Test func connectionsFromOneCPUAreSharedWhenOneLoopHasClearlyMore() async throws {
        try await Self.withServer { server, group in
            guard let cpus = group.pinnedCPUs else {
                try await Self.checkOneCPUServesOnLoopZero(server, requests: 32)
                return
            }
            let count = 32
            let answers = try await PinnedClient.run(onCPU: cpus[0]) { () -> [String] in
                // Open them all first, so that each is accepted while the earlier ones are open.
                let descriptors = (0..<count).map { _ in PinnedClient.connect(port: server.localPort) }
                defer { for fd in descriptors where fd >= 0 { Glibc.close(fd) } }
                return descriptors.map { Self.exchange(on: $0, path: "/loop") }
            }
            let perLoop = (0..<cpus.count).map { index in answers.filter { $0.hasPrefix("\(index) ") }.count }
            #expect(perLoop.reduce(0, +) == count, "\(answers)")
            #expect(perLoop[0] == perLoop.max(), "the CPU's own loop keeps the largest share: \(perLoop)")
            let fairShare = count / cpus.count
            #expect(perLoop.allSatisfy { $0 >= max(1, fairShare - 6) }, "every loop takes a share: \(perLoop)")
        }
    }

    @Test(arguments: [
        (0, 0, true), (4, 0, true), (5, 0, false), (64, 0, false), (9, 4, true), (10, 4, false),
        (36, 26, true), (37, 26, false), (1129, 900, true), (1130, 900, false),
    ])
    func theAcceptingLoopKeepsAConnectionUpToAMargin(own: Int, leastBusy: Int, keeps: Bool) {
        #expect(HTTPServer.keepsConnection(serving: own, leastBusy: leastBusy) == keeps)
    }

    /// Runs `body` against a server answering `GET /loop` with "LOOP-INDEX CPU", on a group
    /// of one loop per CPU (pinned when there are two or more CPUs).
    static func withServer(_ body: (HTTPServer, EventLoopGroup) async throws -> Void) async throws {
        let group = try EventLoopGroup(loopCount: LoopAffinity.allowedCPUs().count)
        var router = Router()
        router.get("/loop") { request in
            .json(.ok, Array("\(request.loop.index) \(CLinux_current_cpu())".utf8))
        }
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0), group: group, responder: router)
        try await server.start()
        let running = Task { await server.run() }
        do {
            try await body(server, group)
        } catch {
            server.shutdown()
            await running.value
            group.shutdown()
            throw error
        }
        server.shutdown()
        await running.value
        group.shutdown()
    }

    @Test func floatingLoopsDoNotSteer() async throws {
        let group = try EventLoopGroup(loopCount: 2, affinity: .none)
        defer { group.shutdown() }
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0), group: group, responder: Router())
        try await server.start()
        #expect(!server.steersConnectionsByCPU)
        server.shutdown()
        await server.run()
    }

    /// What a process that may use one CPU only can check (its group has one loop, which is never
    /// pinned: there is nothing to steer between), said loudly, since steering goes unchecked here.
    static func checkOneCPUServesOnLoopZero(_ server: HTTPServer, requests: Int) async throws {
        let allowed = LoopAffinity.allowedCPUs()
        #expect(allowed.count == 1, "one loop per CPU pins the loops whenever there are two or more: \(allowed)")
        #expect(!server.steersConnectionsByCPU)
        print("""
            ServerAffinityTests: NOT CHECKED: steering connections by CPU: this process may use one \
            CPU only (\(allowed)); checked instead that \(requests) requests are served by loop 0 on it
            """)
        for _ in 0..<requests {
            #expect(try await Self.get("/loop", port: server.localPort, fromCPU: allowed[0]) == "0 \(allowed[0])")
        }
    }

    /// One GET with `Connection: close` over blocking calls from a thread pinned to `cpu`;
    /// the response's body.
    static func get(_ path: String, port: Int, fromCPU cpu: Int) async throws -> String {
        try await PinnedClient.run(onCPU: cpu) {
            let fd = PinnedClient.connect(port: port)
            defer { if fd >= 0 { Glibc.close(fd) } }
            return exchange(on: fd, path: path)
        }
    }

    /// Sends a GET with `Connection: close` on `fd` and reads to the end; the body.
    static func exchange(on fd: Int32, path: String) -> String {
        guard fd >= 0 else { return "not connected" }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == request.count else {
            return "write failed"
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let bodyStart = text.range(of: "\r\n\r\n") else { return "no response: \(text)" }
        return String(text[bodyStart.upperBound...])
    }
}
