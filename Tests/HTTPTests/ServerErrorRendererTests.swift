import MarqueeTesting
import Reactor
import Testing

@testable import HTTP

/// Words every answer as `<status> <reason>`, so a test can tell which reason the server chose
/// and that the configured renderer (not a built-in format) wrote the body.
struct ReasonNamingRenderer: HTTPErrorRenderer {
    func render(_ error: HTTPServerError) -> HTTPErrorBody {
        HTTPErrorBody(contentType: "application/x-reason", bytes: Array("\(error.status.code) \(error.reason)".utf8))
    }
}

struct HandlerBug: Error {}

/// The HTTP layer's own answers go through the configuration's ``HTTPErrorRenderer``: plain
/// text by default, the product's format when it supplies one; the status and `Allow` stay
/// the error's whatever the renderer.
@Suite("HTTP server error renderer", .serialized, .timeLimit(.minutes(5)))
struct ServerErrorRendererTests {
    /// Serves `/hello` (GET), `/echo` (POST, body collected up to 8 bytes) and `/bug`
    /// (a handler failing with an error that names no response) with `renderer`, if any.
    static func withServer(
        renderer: (any HTTPErrorRenderer)?, _ body: (RawHTTPClient) async throws -> Void
    ) async throws {
        let group = try EventLoopGroupHolder.shared()
        var router = Router()
        router.get("/hello") { _ in HTTPServerResponse(status: .ok, body: .bytes(Array("hi".utf8))) }
        router.post("/echo") { request in
            HTTPServerResponse(status: .ok, body: .bytes(try await request.body.collect(upTo: 8)))
        }
        router.get("/bug") { _ in throw HandlerBug() }
        var configuration = HTTPServerConfiguration(port: 0)
        if let renderer { configuration.errorRenderer = renderer }
        let server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        let running = Task { await server.run() }
        do {
            try await body(RawHTTPClient(port: server.localPort, loop: group.loops[0]))
        } catch {
            server.shutdown()
            await running.value
            throw error
        }
        server.shutdown()
        await running.value
    }

    static func answer(_ client: RawHTTPClient, _ request: String) async throws -> (HTTPResponseHead, String)? {
        let result = try await client.exchange([request], expected: 1)
        return result.responses.first.map { ($0.head, String(decoding: $0.body, as: UTF8.self)) }
    }

    @Test func answersArePlainTextByDefault() async throws {
        try await Self.withServer(renderer: nil) { client in
            let malformed = try #require(try await Self.answer(
                client, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"))
            #expect(malformed.0.status == .badRequest)
            #expect(malformed.0.headers["Content-Type"] == "text/plain; charset=utf-8")
            #expect(malformed.1 == "Malformed request: conflictingLengths")

            let missing = try #require(try await Self.answer(client, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"))
            #expect(missing.0.status == .notFound && missing.1 == "Not Found")

            let wrongMethod = try #require(try await Self.answer(client, "DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n"))
            #expect(wrongMethod.0.status == .methodNotAllowed && wrongMethod.1 == "Method Not Allowed")
            #expect(wrongMethod.0.headers["Allow"] == "GET")

            let tooLarge = try #require(try await Self.answer(
                client, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n123456789"))
            #expect(tooLarge.0.status == .payloadTooLarge && tooLarge.1 == "Request body too large (limit 8 bytes)")

            let bug = try #require(try await Self.answer(client, "GET /bug HTTP/1.1\r\nHost: t\r\n\r\n"))
            #expect(bug.0.status == .internalServerError && bug.1 == "Internal Server Error")
        }
    }

    @Test func theConfiguredRendererWordsEveryAnswerTheServerGivesItself() async throws {
        try await Self.withServer(renderer: ReasonNamingRenderer()) { client in
            // Refused by the connection before any handler ran.
            let malformed = try #require(try await Self.answer(client, "GET /hello HTTP/1.1\r\n\r\n"))
            #expect(malformed.0.status == .badRequest)
            #expect(malformed.0.headers["Content-Type"] == "application/x-reason")
            #expect(malformed.1.hasPrefix("400 malformedRequest("))
            // Thrown by the router, by the request body, by a handler with no response of its own.
            let missing = try #require(try await Self.answer(client, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"))
            #expect(missing.1 == "404 notFound")
            let wrongMethod = try #require(try await Self.answer(client, "DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n"))
            #expect(wrongMethod.0.headers["Allow"] == "GET" && wrongMethod.1.hasPrefix("405 methodNotAllowed"))
            let tooLarge = try #require(try await Self.answer(
                client, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n123456789"))
            #expect(tooLarge.1 == "413 bodyTooLarge(limit: Optional(8))")
            let bug = try #require(try await Self.answer(client, "GET /bug HTTP/1.1\r\nHost: t\r\n\r\n"))
            #expect(bug.1 == "500 handlerFailed")
        }
    }

    /// HTTP/2's own answers (431 for a field list over the limit, 501 for CONNECT) are the
    /// renderer's too: its content type, its body.
    @Test func http2AnswersUseTheRenderer() throws {
        var client = HTTP2TestClient(errorRenderer: ReasonNamingRenderer())
        var list = HTTP2TestClient.get()
        for _ in 0..<20 { list.append(("x-bomb", String(repeating: "a", count: 4000))) }
        let connect = [(":method", "CONNECT"), (":authority", "h:443")]
        client.send(client.headers(stream: 1, list) + client.headers(stream: 3, connect))
        let frames = client.takeFrames()
        let heads = try client.decodedHeaders(in: frames)
        #expect(heads.map { $0.fields.first?.value } == [Array("431".utf8), Array("501".utf8)])
        #expect(heads.allSatisfy { $0.fields.contains(HPACKHeaderField("content-type", "application/x-reason")) })
        let bodies = String(decoding: frames.dataBytes, as: UTF8.self)
        #expect(bodies == "431 headerListTooLarge" + "501 methodNotImplemented(\"CONNECT\")")
    }
}
