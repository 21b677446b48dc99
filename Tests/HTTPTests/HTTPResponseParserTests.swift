import Testing

@testable import HTTP

@Suite("HTTPResponseParser", .timeLimit(.minutes(5)))
struct HTTPResponseParserTests {
    private func head(_ events: [ParsedEvent<HTTPResponseHead>], _ index: Int = 0) -> HTTPResponseHead? {
        guard index < events.count, case .head(let head) = events[index] else { return nil }
        return head
    }

    @Test func contentLength() {
        let events = parseResponses("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Cache: HIT\r\n\r\nhello")
        let expected = HTTPResponseHead(status: .ok, headers: ["Content-Length": "5", "X-Cache": "HIT"])
        #expect(events == [.head(expected), .body(bytes("hello")), .end(trailers: nil)])
        #expect(expected.keepAlive)
    }

    /// The reason phrase is kept as sent (statuses compare by code, so this looks at the
    /// phrase itself), including for `200 OK`, which the parser answers with the static `.ok`.
    @Test func reasonPhrasesAreKeptAsSent() {
        for (line, phrase) in [("200 OK", "OK"), ("200 Okay", "Okay"), ("200 ok", "ok"), ("200 OKAY", "OKAY"),
            ("404 Not Found", "Not Found"), ("299 ", ""), ("200", "")]
        {
            let events = parseResponses("HTTP/1.1 \(line)\r\nContent-Length: 0\r\n\r\n")
            #expect(head(events)?.status.reasonPhrase == phrase, "\(line)")
        }
    }

    @Test func chunked() {
        let events = parseResponses(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n")
        #expect(Array(events.dropFirst()) == [.body(bytes("abcde")), .end(trailers: ["T": "v"])])
    }

    @Test func untilClose() {
        let events = parseResponses("HTTP/1.0 200 OK\r\n\r\nall of it", closeAtEnd: true)
        #expect(Array(events.dropFirst()) == [.body(bytes("all of it")), .end(trailers: nil)])
        #expect(head(events)?.keepAlive == false)
    }

    @Test func untilCloseWithNonChunkedTransferEncoding() {
        let events = parseResponses("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", closeAtEnd: true)
        #expect(Array(events.dropFirst()) == [.body(bytes("zz")), .end(trailers: nil)])
    }

    @Test func headResponseHasNoBody() {
        let events = parseResponses(
            "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            method: .HEAD)
        #expect(events.count == 4)
        #expect(head(events, 2)?.status == .notFound)
        #expect(head(events, 2)?.status.reasonPhrase == "Not Found")
    }

    @Test func noContentAndNotModifiedHaveNoBody() {
        let events = parseResponses(
            "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"1\"\r\n\r\n")
        #expect(events.count == 4)
        #expect(head(events, 0)?.status == .noContent)
        #expect(head(events, 2)?.status == .notModified)
    }

    @Test func continueThenFinal() {
        let events = parseResponses(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\nLocation: /u/1\r\n\r\n{}")
        #expect(head(events, 0)?.status == .continue)
        #expect(head(events, 1)?.status == .created)
        #expect(Array(events.dropFirst(2)) == [.body(bytes("{}")), .end(trailers: nil)])
    }

    @Test func emptyReasonPhrase() {
        #expect(head(parseResponses("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"))?.status.reasonPhrase == "")
        #expect(head(parseResponses("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n"))?.status == .serviceUnavailable)
    }

    @Test func truncatedAndNoResponse() {
        #expect(rejection(parseResponses("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", closeAtEnd: true))
            == .truncatedMessage)
        #expect(rejection(parseResponses("HTTP/1.1 200 OK\r\nContent-", closeAtEnd: true)) == .truncatedMessage)
        #expect(rejection(parseResponses("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            closeAtEnd: true)) == .truncatedMessage)
        var parser = HTTPResponseParser()
        #expect(parser.connectionClosed() == .invalid(HTTPParseError(.noResponse)))
    }

    @Test func keepAliveAfterResponse() {
        let events = parseResponses(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nb")
        #expect(events.count == 6)
        #expect(head(events, 0)?.keepAlive == true)
        #expect(head(events, 3)?.keepAlive == false)
    }

    static let hostile: [(String, HTTPParseError.Code)] = [
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", .conflictingLengths),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .invalidContentLength),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .invalidTransferEncoding),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", .invalidChunkSize),
        ("HTTP/1.1 20 OK\r\n\r\n", .invalidStatusLine),
        ("HTTP/1.1 099 OK\r\n\r\n", .invalidStatusLine),
        ("HTTP/1.1 200OK\r\n\r\n", .invalidStatusLine),
        ("HTTP/1.1  200 OK\r\n\r\n", .invalidStatusLine),
        ("HTTP/3.0 200 OK\r\n\r\n", .versionNotSupported),
        ("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", .invalidLineEnding),
        ("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", .whitespaceBeforeColon),
        ("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", .obsFold),
        ("HTTP/1.1 200 O\u{0}K\r\n\r\n", .invalidStatusLine),
    ]

    @Test(arguments: 0..<hostile.count)
    func isRejected(_ index: Int) {
        let (text, code) = Self.hostile[index]
        let events = parseResponses(text, closeAtEnd: true)
        #expect(rejection(events) == code, "\(events)")
    }

    @Test func statusLineTooLong() {
        let text = "HTTP/1.1 200 " + String(repeating: "k", count: 9000) + "\r\n\r\n"
        #expect(rejection(parseResponses(text)) == .statusLineTooLong)
    }

    @Test func bodyKinds() {
        var parser = HTTPResponseParser()
        let input = bytes("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        _ = drive(&parser, input, segments: [0..<20])
        #expect(parser.bodyKind == .none)
        _ = drive(&parser, input, segments: [0..<input.count])
        #expect(parser.bodyKind == .length(3))
    }
}
