import Foundation
import Gateway
import HTTP
import MarqueeTesting
import Testing

/// Request bodies of HTTP/2 clients on their way upstream: streamed (not read whole first),
/// with their `content-length` when the client gave one and chunked when not, and their
/// trailers after a chunked body; and response trailers on their way back. Clients: curl
/// and Python's h2 (tests/http2_conformance.py).
@Suite(.serialized, .timeLimit(.minutes(5))) struct GatewayHTTP2BodyTests {
    static let repository = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")

    @Test func streamedBodiesAndTheirTrailersGoUpstream() async throws {
        let movies = try await TestUpstream.start(name: "movies")
        let gateway = try await GatewayUnderTest.start(movies: [movies.url])
        let plain = "http://127.0.0.1:\(gateway.port)"
        let file = try makeTemporaryDirectory() + "/body"
        let size = 300_000  // past the gateway's 64 KiB collect limit: streamed
        try Data(repeating: 0x62, count: size).write(to: URL(fileURLWithPath: file))
        let curl = ["-sS", "--max-time", "20", "--http2-prior-knowledge"]

        let withLength = try ChildProcess.run(
            "/usr/bin/curl", curl + ["--data-binary", "@\(file)", "\(plain)/api/movies/upload"])
        #expect(withLength.output == #"{"received":\#(size)}"#, "\(withLength.output)")

        // `-T -` reads stdin: curl sends no content-length, so the upstream request is chunked.
        let withoutLength = try ChildProcess.run(
            "/usr/bin/curl", curl + ["-X", "POST", "-T", "-", "\(plain)/api/movies/echo"], stdinPath: file)
        let echo = Echo(Array(withoutLength.output.utf8))
        #expect(echo.bodyCount == size, "\(withoutLength.output.prefix(300))")
        #expect(echo.values("transfer-encoding") == ["chunked"])
        #expect(echo.values("content-length").isEmpty)

        let python = try ChildProcess.run(
            "/usr/bin/python3",
            [
                "\(Self.repository)/tests/http2_conformance.py", "127.0.0.1", String(gateway.port),
                "--trailers", "/api/movies/trailers", "--only", "case_trailers",
            ])
        #expect(python.status == 0 && python.output.contains("ok   case_trailers"), "\(python.output)")

        await gateway.stop()
        await movies.stop()
    }

    /// An upstream's chunked response ends with a trailer section: its fields that a trailer
    /// may carry reach an HTTP/2 client as a trailing HEADERS frame (python3-h2 checks the
    /// frames, curl the fields) and an HTTP/1.1 client as its chunked body's trailers; the
    /// rest (a cookie, a content type, a request id, caching) stays behind.
    @Test func responseTrailersReachHTTP2AndHTTP11Clients() async throws {
        let movies = try await TestUpstream.start(name: "movies")
        let gateway = try await GatewayUnderTest.start(movies: [movies.url])
        let url = "http://127.0.0.1:\(gateway.port)/api/movies/with-trailers"

        let python = try ChildProcess.run(
            "/usr/bin/python3",
            [
                "\(Self.repository)/tests/http2_conformance.py", "127.0.0.1", String(gateway.port),
                "--response-trailers", "/api/movies/with-trailers", "--only", "case_response_trailers",
            ])
        #expect(python.status == 0 && python.output.contains("ok   case_response_trailers"), "\(python.output)")

        for version in ["--http1.1", "--http2-prior-knowledge"] {
            let curl = try ChildProcess.run(
                "/usr/bin/curl",
                ["-sS", "--max-time", "20", version, "-D", "-", "-o", "/dev/null", "-w", "size=%{size_download}", url])
            let dump = curl.output.lowercased()
            guard let headEnd = dump.firstRange(of: "\r\n\r\n") else {
                Issue.record("\(version): no head in \(curl.output)")
                continue
            }
            let head = dump[..<headEnd.lowerBound].split(separator: "\r\n")
            let afterHead = dump[headEnd.upperBound...].split(separator: "\r\n")
            #expect(head.contains("trailer: x-checksum, grpc-status"), "\(version): \(curl.output)")
            #expect(
                afterHead == ["x-checksum: sha256-response", "grpc-status: 0", "size=13"], "\(version): \(curl.output)")
        }

        await gateway.stop()
        await movies.stop()
    }
}
