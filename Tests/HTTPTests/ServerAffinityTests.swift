import CLinux
import Reactor
import Testing

@testable import HTTP

#if canImport(Glibc)
import Glibc
#endif

/// With the group's loops pinned one per CPU, a request is served by the loop on the CPU
/// that received its connection (on loopback: the client thread's CPU).
@Suite("HTTP server: connections accepted by CPU")
struct ServerAffinityTests {
    @Test func eachRequestIsServedOnTheLoopOfItsClientsCPU() async throws {
        try await Self.withServer { server, group in
            #expect(server.steersConnectionsByCPU == (group.pinnedCPUs != nil))
            guard let cpus = group.pinnedCPUs else { return }
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
            guard let cpus = group.pinnedCPUs else { return }
            let count = 32
            let answers = try await Self.onThread(pinnedTo: cpus[0]) { () -> [String] in
                // Open them all first, so that each is accepted while the earlier ones are open.
                let descriptors = (0..<count).map { _ in Self.connect(port: server.localPort) }
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

    /// One GET with `Connection: close` over blocking calls from a thread pinned to `cpu`;
    /// the response's body.
    static func get(_ path: String, port: Int, fromCPU cpu: Int) async throws -> String {
        try await onThread(pinnedTo: cpu) {
            let fd = connect(port: port)
            defer { if fd >= 0 { Glibc.close(fd) } }
            return exchange(on: fd, path: path)
        }
    }

    /// Runs `body` on a thread of its own pinned to `cpu` (on loopback, the CPU that then
    /// handles the packets of the connections it opens).
    static func onThread<T: Sendable>(pinnedTo cpu: Int, _ body: @escaping @Sendable () -> T) async throws -> T {
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        return try await pool.run { () throws(TestFailure) -> T in
            guard CLinux_pin_thread(pthread_self(), Int32(cpu)) == 0 else { throw TestFailure("cannot pin to CPU \(cpu)") }
            return body()
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// A blocking connection to 127.0.0.1:`port`, or -1.
    static func connect(port: Int) -> Int32 {
        let address = SocketAddress(numericHost: "127.0.0.1", port: port)!
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0, address.withSockAddr({ Glibc.connect(fd, $0, $1) }) == 0 else {
            if fd >= 0 { Glibc.close(fd) }
            return -1
        }
        return fd
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
