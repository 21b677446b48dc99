import MarqueeTesting
import Reactor
import Synchronization
import Testing

@testable import HTTP

/// The HTTP/2 server over loopback, driven by independent peers: curl (libcurl's nghttp2)
/// and Python's h2 library (tests/http2_conformance.py), on one port that also serves
/// HTTP/1.1.
@Suite("HTTP/2 server over loopback (curl, python3-h2)", .serialized, .timeLimit(.minutes(3)))
final class HTTP2ServerLoopbackTests {
    let server: HTTPServer
    static let bigBody = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    static let maxBody = 150_000
    static let repository = "/" + #filePath.split(separator: "/").dropLast(4).joined(separator: "/")

    init() async throws {
        let group = try EventLoopGroupHolder.shared()
        var router = Router()
        router.get("/hello") { request in
            .json(.ok, Array(#"{"version":"\#(request.head.version)"}"#.utf8))
        }
        router.post("/echo") { request in
            HTTPServerResponse(status: .ok, body: .bytes(try await request.body.collect(upTo: 1 << 20)))
        }
        let gate = Gate()
        router.post("/hold") { request in
            var total = try await request.body.next()?.count ?? 0
            await gate.wait()
            while let chunk = try await request.body.next() { total += chunk.count }
            return HTTPServerResponse(status: .ok, body: .bytes(Array(String(total).utf8)))
        }
        router.get("/release") { _ in
            gate.open()
            return HTTPServerResponse(status: .ok)
        }
        router.post("/trailers") { request in
            let body = try await request.body.collect(upTo: 1 << 20)
            var text = "body=\(body.count)\n"
            for (name, value) in request.body.trailers ?? HTTPHeaders() { text += "t:\(name)=\(value)\n" }
            return HTTPServerResponse(status: .ok, body: .bytes(Array(text.utf8)))
        }
        router.get("/response-trailers") { _ in
            HTTPServerResponse(
                status: .ok, headers: ["Trailer": "X-Checksum, Grpc-Status"],
                body: .stream(length: nil) { writer in
                    try await writer.write(Array("streamed ".utf8))
                    try await writer.write(Array("body".utf8))
                    writer.trailers = ["X-Checksum": "sha256-response", "Grpc-Status": "0"]
                })
        }
        router.get("/big") { _ in HTTPServerResponse(status: .ok, body: .bytes(HTTP2ServerLoopbackTests.bigBody)) }
        router.get("/stream") { _ in
            HTTPServerResponse(status: .ok, body: .stream(length: nil) { writer in
                var offset = 0
                while offset < HTTP2ServerLoopbackTests.bigBody.count {
                    let end = min(offset + 10_000, HTTP2ServerLoopbackTests.bigBody.count)
                    try await writer.write(HTTP2ServerLoopbackTests.bigBody[offset..<end])
                    offset = end
                }
            })
        }
        var configuration = HTTPServerConfiguration(port: 0)
        configuration.bodyReadTimeout = .seconds(1)
        var http2 = HTTP2ServerConfiguration()
        http2.maxRequestBodySize = Self.maxBody
        configuration.http2 = http2
        server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        let server = server
        Task { await server.run() }
    }

    deinit { server.shutdown() }

    private func curl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try ChildProcess.run("/usr/bin/curl", ["-sS", "--max-time", "20"] + arguments)
    }

    @Test func curlWithPriorKnowledgeSpeaksHTTP2() throws {
        let url = "http://127.0.0.1:\(server.localPort)/hello"
        let result = try curl(["--http2-prior-knowledge", "-w", " %{http_version}", url])
        #expect(result.status == 0)
        #expect(result.output == #"{"version":"HTTP/2.0"} 2"#)
    }

    @Test func theSamePortStillServesHTTP11() throws {
        let result = try curl(["-w", " %{http_version}", "http://127.0.0.1:\(server.localPort)/hello"])
        #expect(result.output == #"{"version":"HTTP/1.1"} 1.1"#)
    }

    /// A handler's response trailers: over HTTP/1.1 the chunked body's trailer section
    /// (curl's header dump lists them after the head's blank line), over HTTP/2 a trailing
    /// HEADERS frame (curl lists them the same way; python3-h2 checks the frames below).
    @Test func curlReceivesResponseTrailers() throws {
        for version in ["--http1.1", "--http2-prior-knowledge"] {
            let result = try curl([
                version, "-D", "-", "-o", "/dev/null", "-w", "size=%{size_download}",
                "http://127.0.0.1:\(server.localPort)/response-trailers",
            ])
            #expect(
                Self.afterHead(result.output) == ["x-checksum: sha256-response", "grpc-status: 0", "size=13"],
                "\(version): \(result.output)")
        }
    }

    /// The lines of curl's header dump (`-D -`) after the head's blank line (the trailers,
    /// then what `-w` wrote), lower-cased.
    static func afterHead(_ dump: String) -> [String] {
        let text = dump.lowercased()
        guard let end = text.firstRange(of: "\r\n\r\n") else { return ["no head: " + text] }
        return text[end.upperBound...].split(separator: "\r\n").map(String.init)
    }

    @Test func curlReceivesWholeAndStreamedBodies() throws {
        // One URL per curl: curl 7.88.1 fails a second request on a reused HTTP/2 connection
        // with "Error in the HTTP2 framing layer" (nginx 1.22's too); nghttp covers reuse below.
        for path in ["/big", "/stream"] {
            let result = try curl([
                "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{http_version}",
                "http://127.0.0.1:\(server.localPort)\(path)",
            ])
            #expect(result.output == "200 200000 2", "\(path): \(result.output)")
        }
    }

    /// nghttp (Debian's nghttp2-client) fetches three bodies concurrently on one connection.
    @Test func nghttpMultiplexesOneConnection() throws {
        let base = "http://127.0.0.1:\(server.localPort)"
        let result = try ChildProcess.run(
            "/usr/bin/nghttp", ["-n", "-s", "-t", "20", "\(base)/big", "\(base)/stream", "\(base)/big?again"])
        #expect(result.status == 0, "\(result.output)")
        let answered = result.output.split(separator: "\n").filter { $0.contains(" 200 ") && $0.contains("195K") }
        #expect(answered.count == 3, "\(result.output)")
    }

    /// The conformance cases of tests/http2_conformance.py: multiplexing, PING, a malformed
    /// request reset while the connection goes on, flow control both ways, a request body that
    /// stops coming (408) or runs past the limit (413), each answered before the body ended and
    /// then reset with NO_ERROR, a streamed body whose window stays closed while its handler
    /// holds (backpressure), trailers that reach the handler and a handler's response trailers
    /// (a trailing HEADERS frame that ends the stream), and the attacks (rapid reset,
    /// CONTINUATION flood, SETTINGS and PING floods, window overflow, HPACK bomb).
    @Test func pythonH2ConformanceCases() throws {
        let result = try ChildProcess.run(
            "/usr/bin/python3",
            [
                "\(Self.repository)/tests/http2_conformance.py", "127.0.0.1", String(server.localPort),
                "--get", "/hello", "--echo", "/echo", "--big", "/stream", "--body-timeout", "1",
                "--max-body", String(Self.maxBody), "--hold", "/hold", "--release", "/release",
                "--trailers", "/trailers", "--response-trailers", "/response-trailers",
            ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ok   case_rapid_reset"), "\(result.output)")
        #expect(result.output.contains("ok   case_small_window"), "\(result.output)")
        #expect(result.output.contains("ok   case_body_timeout"), "\(result.output)")
        #expect(result.output.contains("ok   case_body_too_large"), "\(result.output)")
        #expect(result.output.contains("ok   case_streamed_body_backpressure"), "\(result.output)")
        #expect(result.output.contains("ok   case_trailers"), "\(result.output)")
        #expect(result.output.contains("ok   case_response_trailers"), "\(result.output)")
    }

    /// Opens once; handlers waiting on it go on then.
    final class Gate: Sendable {
        private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func wait() async {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.isOpen { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }

        func open() {
            let waiters = state.withLock { state in
                state.isOpen = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }
}
