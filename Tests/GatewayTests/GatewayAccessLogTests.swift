import Foundation
import Gateway
import HTTP
import Logging
import MarqueeTesting
import Telemetry
import Testing

/// The access log of a gateway serving real clients: one line per request, naming the
/// protocol the client spoke (HTTP/1.0, HTTP/1.1, h2c and h2 over TLS), for proxied requests
/// and for the gateway's own answers alike.
@Suite(.serialized, .timeLimit(.minutes(5))) struct GatewayAccessLogTests {
    @Test func everyRequestNamesTheProtocolItCameIn() async throws {
        let directory = try makeTemporaryDirectory()
        try await makeCertificate(in: directory, serial: "01")
        let movies = try await TestUpstream.start(name: "movies")
        let capture = LogCapture()
        let gateway = try await GatewayUnderTest.start(
            movies: [movies.url], logger: Logger(service: "gateway", sink: capture.sink)
        ) {
            $0.accessLog = true
            $0.tlsCertificate = directory + "/cert.pem"
            $0.tlsKey = directory + "/key.pem"
        }
        let plain = "http://127.0.0.1:\(gateway.port)"
        let secure = "https://127.0.0.1:\(try #require(gateway.server.httpsPort))"

        #expect(try await gateway.send(.GET, "/api/movies/11").status == .ok)
        // curl gives the response's version, and an HTTP/1.1 server answers 1.0 requests as 1.1.
        #expect(try curl(["--http1.0", "\(plain)/api/movies/10"]) == "200 1.1")
        #expect(try curl(["--http2-prior-knowledge", "\(plain)/api/movies/20"]) == "200 2")
        #expect(try curl(["--http2-prior-knowledge", "\(plain)/health"]) == "200 2")
        #expect(try curl(["--http2", "-k", "\(secure)/api/movies/21"]) == "200 2")

        let expected = [
            "/api/movies/11": "HTTP/1.1", "/api/movies/10": "HTTP/1.0", "/api/movies/20": "HTTP/2.0",
            "/health": "HTTP/2.0", "/api/movies/21": "HTTP/2.0",
        ]
        // A line is written when its response is done, which may be just after the client has it.
        let deadline = ContinuousClock.now + .seconds(10)
        while accessLines(capture).count < expected.count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let lines = accessLines(capture)
        #expect(lines.count == expected.count, "\(lines)")
        for (path, version) in expected {
            let line = lines.first { $0["path"] as? String == path }
            #expect(line?["protocol"] as? String == version, "\(path): \(String(describing: line))")
        }
        await gateway.stop()
        await movies.stop()
    }

    /// curl's status code and HTTP version (`200 2`), the body dropped.
    private func curl(_ arguments: [String]) throws -> String {
        let result = try ChildProcess.run(
            "/usr/bin/curl", ["-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code} %{http_version}"] + arguments)
        return result.output
    }

    /// The access log's lines (`"msg":"request"`) captured so far, parsed.
    private func accessLines(_ capture: LogCapture) -> [[String: Any]] {
        capture.captured.compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["msg"] as? String == "request"
            else { return nil }
            return object
        }
    }
}
