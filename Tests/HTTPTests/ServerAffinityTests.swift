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
@Suite("HTTP server: connections accepted by CPU")
struct ServerAffinityTests {
    @Test func eachRequestIsServedOnTheLoopOfItsClientsCPU() async throws {
        let group = try EventLoopGroupHolder.shared()
        var router = Router()
        router.get("/loop") { request in
            .json(.ok, Array("\(request.loop.index) \(CLinux_current_cpu())".utf8))
        }
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0), group: group, responder: router)
        try await server.start()
        Task { await server.run() }
        defer { server.shutdown() }

        #expect(server.steersConnectionsByCPU == (group.pinnedCPUs != nil))
        let cpus = try #require(group.pinnedCPUs, "the shared test group has one loop per CPU and pins them")
        for (loopIndex, cpu) in cpus.enumerated() {
            for _ in 0..<8 {
                let answer = try await Self.get("/loop", port: server.localPort, fromCPU: cpu)
                #expect(answer == "\(loopIndex) \(cpu)", "a client on CPU \(cpu)")
            }
        }
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
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        let address = SocketAddress(numericHost: "127.0.0.1", port: port)!
        let response = try await pool.run { () -> [UInt8] in
            guard CLinux_pin_thread(pthread_self(), Int32(cpu)) == 0 else { return [] }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { Glibc.close(fd) }
            guard address.withSockAddr({ Glibc.connect(fd, $0, $1) }) == 0 else { return [] }
            let request = Array("GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8)
            guard request.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == request.count else { return [] }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                received.append(contentsOf: buffer[0..<count])
            }
            return received
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let bodyStart = text.range(of: "\r\n\r\n") else { return "no response: \(text)" }
        return String(text[bodyStart.upperBound...])
    }
}
