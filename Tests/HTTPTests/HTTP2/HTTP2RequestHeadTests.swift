import Testing

@testable import HTTP

@Suite("HTTP/2 request fields (RFC 9113 §8.2, §8.3)", .timeLimit(.minutes(1)))
struct HTTP2RequestHeadTests {
    static let base = [(":method", "GET"), (":scheme", "https"), (":path", "/a?b=1"), (":authority", "h.example")]

    @Test func aValidRequestIsTakenApart() throws {
        let head = try HTTP2RequestHead(validating: fields(Self.base + [("accept", "*/*"), ("content-length", "0")]))
        #expect(head.method == "GET" && head.scheme == "https" && head.path == "/a?b=1" && head.authority == "h.example")
        #expect(head.fields == fields([("accept", "*/*"), ("content-length", "0")]))
        #expect(head.contentLength == 0)
    }

    @Test func hostStandsInForAMissingAuthority() throws {
        let head = try HTTP2RequestHead(validating: fields(Array(Self.base.prefix(3)) + [("host", "h.example")]))
        #expect(head.authority == "h.example")
        // The same authority in both, differing in case only, is fine.
        _ = try HTTP2RequestHead(validating: fields(Self.base + [("host", "H.Example")]))
    }

    @Test(arguments: [
        // Pseudo-header after a regular field.
        [(":method", "GET"), (":scheme", "https"), ("accept", "x"), (":path", "/"), (":authority", "h")],
        // Duplicates.
        Self.base + [(":path", "/b")],
        Self.base + [(":method", "GET")],
        // Missing.
        [(":method", "GET"), (":scheme", "https"), (":authority", "h")],
        [(":scheme", "https"), (":path", "/"), (":authority", "h")],
        // Unknown and response pseudo-headers.
        Self.base + [(":status", "200")],
        Self.base + [(":protocol", "websocket")],
        // Empty or non-origin :path.
        [(":method", "GET"), (":scheme", "https"), (":path", ""), (":authority", "h")],
        [(":method", "GET"), (":scheme", "https"), (":path", "a"), (":authority", "h")],
        [(":method", "GET"), (":scheme", "https"), (":path", "*"), (":authority", "h")],
        // Upper-case and invalid names.
        Self.base + [("Accept", "x")],
        Self.base + [("a b", "x")],
        // Connection-specific fields.
        Self.base + [("connection", "keep-alive")],
        Self.base + [("keep-alive", "5")],
        Self.base + [("proxy-connection", "x")],
        Self.base + [("transfer-encoding", "chunked")],
        Self.base + [("upgrade", "h2c")],
        Self.base + [("te", "gzip")],
        // Values with CR, LF, NUL, or surrounding whitespace.
        Self.base + [("x", "a\r\nb: c")],
        Self.base + [("x", "a\u{0}")],
        Self.base + [("x", " a")],
        Self.base + [("x", "a\t")],
        // Host naming another authority; neither host nor :authority.
        Self.base + [("host", "other.example")],
        Array(Self.base.prefix(3)),
        // Content-length not a number, or two different ones.
        Self.base + [("content-length", "1x")],
        Self.base + [("content-length", "1"), ("content-length", "2")],
    ])
    func malformedRequestsAreRefused(list: [(String, String)]) {
        #expect(throws: HTTP2RequestHeadError.self) { try HTTP2RequestHead(validating: fields(list)) }
        do {
            _ = try HTTP2RequestHead(validating: fields(list))
        } catch {
            guard case .malformed = error else {
                Issue.record("not malformed: \(error)")
                return
            }
        }
    }

    @Test func teTrailersAndOptionsAsteriskAreAllowed() throws {
        _ = try HTTP2RequestHead(validating: fields(Self.base + [("te", "trailers")]))
        _ = try HTTP2RequestHead(validating: fields(
            [(":method", "OPTIONS"), (":scheme", "https"), (":path", "*"), (":authority", "h")]))
    }

    @Test func connectIsAnsweredNotImplemented() {
        #expect(throws: HTTP2RequestHeadError.unsupported(HTTPServerError(.methodNotImplemented("CONNECT")))) {
            try HTTP2RequestHead(validating: fields([(":method", "CONNECT"), (":authority", "h:443")]))
        }
    }

    /// A malformed request resets its stream with PROTOCOL_ERROR and the connection goes on.
    @Test func malformedRequestIsAStreamError() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, Self.base + [("connection", "close")]))
        #expect(client.takeFrames().resets(1) == .protocolError)
        let next = client.send(client.headers(stream: 3, HTTP2TestClient.get()))
        #expect(next.contains { if case .request(3, _, _) = $0 { true } else { false } })
    }
}
