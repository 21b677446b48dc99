import Gateway
import HTTP
import MarqueeTesting
import Reactor
import Testing

/// 100 MiB each way through the gateway, with the process's memory watched: the gateway
/// (and the upstream and the client, all in this process) must stream, not buffer.
@Suite(.serialized, .timeLimit(.minutes(10))) struct GatewayStreamingTests {
    static let size = 100 << 20
    /// Allowed growth of this whole process's resident set while 100 MiB passes. Below the
    /// body's size, so buffering it whole fails; generous, because the other suites of the
    /// test run allocate in this process at the same time (32 MiB passed alone, not in the
    /// full parallel run).
    static let rssBudget = 80 << 20

    @Test func hundredMebibyteDownload() async throws {
        let movies = try await TestUpstream.start(name: "movies")
        let gateway = try await GatewayUnderTest.start(movies: [movies.url])
        let before = residentBytes()
        let (received, peak) = try await gateway.client.withConnection(to: HTTPOrigin(host: "127.0.0.1", port: gateway.port)) {
            connection in
            var peak = before
            try connection.sendHead(
                HTTPRequestHead(method: .GET, target: "/api/movies/download/\(Self.size)", headers: ["Host": "gw"]))
            try await connection.finishRequest()
            let head = try await connection.readResponseHead()
            #expect(head.status == .ok)
            #expect(head.headers["content-length"] == String(Self.size))
            var total = 0
            var nextSample = 0
            while let piece = try await connection.nextBodyBytes() {
                #expect(piece.first == 0x61)
                total += piece.count
                if total >= nextSample {
                    peak = max(peak, residentBytes())
                    nextSample += 4 << 20
                }
            }
            return (total, peak)
        }
        #expect(received == Self.size)
        #expect(peak - before < Self.rssBudget, "RSS grew by \((peak - before) >> 20) MiB")
        await gateway.stop()
        await movies.stop()
    }

    @Test func hundredMebibyteUpload() async throws {
        let movies = try await TestUpstream.start(name: "movies")
        let gateway = try await GatewayUnderTest.start(movies: [movies.url]) { $0.maxBodySize = 200 << 20 }
        let before = residentBytes()
        let piece = [UInt8](repeating: 0x62, count: 64 << 10)
        let (status, body, peak) = try await gateway.client.withConnection(
            to: HTTPOrigin(host: "127.0.0.1", port: gateway.port)
        ) { connection in
            var peak = before
            try connection.sendHead(
                HTTPRequestHead(
                    method: .POST, target: "/api/movies/upload",
                    headers: ["Host": "gw", "Content-Length": String(Self.size)]))
            var sent = 0
            while sent < Self.size {
                try await connection.sendBody(piece[...])
                sent += piece.count
                if sent % (4 << 20) == 0 { peak = max(peak, residentBytes()) }
            }
            try await connection.finishRequest()
            let head = try await connection.readResponseHead()
            return (head.status, try await connection.collectBody(maxSize: 1024), peak)
        }
        #expect(status == .ok)
        #expect(text(body) == #"{"received":\#(Self.size)}"#)
        #expect(peak - before < Self.rssBudget, "RSS grew by \((peak - before) >> 20) MiB")
        await gateway.stop()
        await movies.stop()
    }
}
