import Testing

@testable import HTTP

@Suite("HTTPRequestParser: valid requests", .timeLimit(.minutes(5)))
struct HTTPRequestParserValidTests {
    @Test func simpleGet() {
        let events = parseRequests("GET /movies/1?x=2 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let head = HTTPRequestHead(method: .GET, target: "/movies/1?x=2", headers: ["Host": "example.com"])
        #expect(events == [.head(head), .end(trailers: nil)])
        #expect(head.path == "/movies/1")
        #expect(head.query == "x=2")
        #expect(head.keepAlive)
    }

    @Test func headersKeepOrderCaseAndTrimValues() {
        let events = parseRequests(
            "POST /api/users HTTP/1.1\r\nHost: h\r\nX-A:  one \t\r\nx-a: two\r\nEmpty:\r\nContent-Length: 0\r\n\r\n")
        guard case .head(let head)? = events.first else {
            Issue.record("no head")
            return
        }
        #expect(head.method == .POST)
        #expect(Array(head.headers.map(\.name)) == ["Host", "X-A", "x-a", "Empty", "Content-Length"])
        #expect(head.headers.values("X-A") == ["one", "two"])
        #expect(head.headers["empty"] == "")
        #expect(events.count == 2)
    }

    @Test func pipelinedRequests() {
        let events = parseRequests(
            "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                + "DELETE /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(events.count == 7)
        #expect(events[3] == .body(bytes("abc")))
        guard case .head(let last) = events[5] else {
            Issue.record("no third head")
            return
        }
        #expect(last.method == .DELETE)
        #expect(!last.keepAlive)
    }

    @Test func contentLengthBody() {
        let events = parseRequests("PUT /m/1 HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world")
        #expect(Array(events.dropFirst()) == [.body(bytes("hello world")), .end(trailers: nil)])
    }

    /// A parser is a value even in the middle of a chunked body (its decoder is boxed and
    /// copied on write): a copy taken there goes on by itself, and the original too.
    @Test func aParserCopiedInsideAChunkedBodyIsIndependent() {
        let head = bytes("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
        var original = HTTPRequestParser()
        var consumed = 0
        func step(_ parser: inout HTTPRequestParser, _ input: [UInt8], from start: Int) -> (HTTPParseEvent<HTTPRequestHead>, Int) {
            let event = input[start...].withUnsafeBytes { parser.next($0) }
            return (event, event.consumed)
        }
        var (event, used) = step(&original, head, from: consumed)
        consumed += used
        guard case .head = event else { Issue.record("expected the head, got \(event)"); return }
        (event, used) = step(&original, head, from: consumed)
        consumed += used
        guard case .body(_, 3, _) = event else { Issue.record("expected 3 body bytes, got \(event)"); return }
        var copy = original
        let rest = bytes("lo\r\n0\r\n\r\n")
        var copyEvents: [String] = []
        var offset = 0
        while offset < rest.count {
            let (next, used) = step(&copy, rest, from: offset)
            copyEvents.append("\(next)")
            offset += used
            if case .end = next { break }
        }
        // The original has not moved: it still expects the same two bytes.
        let (originalNext, _) = step(&original, rest, from: 0)
        #expect("\(originalNext)" == copyEvents.first)
        #expect(copyEvents.count == 2 && copyEvents.last?.hasPrefix("end") == true)
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() {
        let events = parseRequests(
            "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5;name=value\r\nhello\r\n"
                + "1 ; a ; b = \"q\\\"uoted\" ;c=d\r\n \r\n"
                + "00006\r\nworld!\r\n"
                + "0\r\nChecksum: abc\r\nX-T: 1\r\n\r\n"
                + "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        let trailers: HTTPHeaders = ["Checksum": "abc", "X-T": "1"]
        #expect(Array(events.dropFirst().prefix(2)) == [.body(bytes("hello world!")), .end(trailers: trailers)])
        #expect(events.count == 5)
    }

    @Test func chunkedBodyWithoutTrailers() {
        let events = parseRequests(
            "POST /u HTTP/1.1\r\nHost: h\r\ntransfer-encoding: CHUNKED\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n")
        #expect(Array(events.dropFirst()) == [.body(bytes("0123456789")), .end(trailers: nil)])
    }

    @Test func http10KeepAlive() {
        let events = parseRequests(
            "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.0\r\n\r\n")
        guard case .head(let first) = events[0], case .head(let second) = events[2] else {
            Issue.record("heads missing: \(events)")
            return
        }
        #expect(first.version == .http1_0)
        #expect(first.keepAlive)
        #expect(!second.keepAlive)
    }

    @Test func absoluteFormTarget() {
        let events = parseRequests("GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n")
        guard case .head(let head) = events[0] else {
            Issue.record("no head")
            return
        }
        #expect(head.target == "http://example.com:8080/a/b?c=d")
        #expect(head.path == "/a/b")
        #expect(head.query == "c=d")
    }

    @Test func asteriskAndAuthorityForms() {
        #expect(parseRequests("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").count == 2)
        #expect(parseRequests("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").count == 2)
    }

    @Test func expectContinue() {
        let events = parseRequests(
            "POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n{}")
        guard case .head(let head) = events[0] else {
            Issue.record("no head")
            return
        }
        #expect(head.expectsContinue)
        #expect(events.count == 3)
    }

    @Test func duplicateIdenticalContentLengthIsAccepted() {
        let events = parseRequests(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
        #expect(Array(events.dropFirst()) == [.body(bytes("ok")), .end(trailers: nil)])
        #expect(parseRequests("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 02\r\n\r\nok").count == 3)
    }

    @Test func leadingEmptyLinesAreSkipped() {
        #expect(parseRequests("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").count == 2)
    }

    @Test func unknownTokenMethodAndObsText() {
        let events = parseRequests("PURGE /x HTTP/1.1\r\nHost: h\r\nX: caf\u{e9}\r\n\r\n")
        guard case .head(let head) = events[0] else {
            Issue.record("no head")
            return
        }
        #expect(head.method.rawValue == "PURGE")
        #expect(head.headers["x"] == "caf\u{e9}")
    }

    @Test func bodyKindIsReported() {
        var parser = HTTPRequestParser()
        let input = bytes("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        _ = drive(&parser, input, segments: [0..<input.count])
        #expect(parser.bodyKind == .chunked)
    }

    @Test func largeHeadFedByteByByteStaysLinear() {
        // 30 KiB of fields one byte per call: quadratic rescanning would take seconds.
        var text = "GET / HTTP/1.1\r\nHost: h\r\n"
        for index in 0..<90 { text += "X-Field-\(index): " + String(repeating: "v", count: 300) + "\r\n" }
        text += "\r\n"
        let input = bytes(text)
        var parser = HTTPRequestParser()
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            let events = drive(&parser, input, segments: (0..<input.count).map { $0..<($0 + 1) })
            #expect(events.count == 2)
        }
        #expect(elapsed < .seconds(2))
    }
}

@Suite("HTTPRequestParser: hostile requests", .timeLimit(.minutes(5)))
struct HTTPRequestParserHostileTests {
    /// Every rejection the issue lists, plus the request-smuggling classics.
    static let cases: [(String, String, HTTPParseError.Code)] = [
        ("CL.TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
         .conflictingLengths),
        ("TE.CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
         .conflictingLengths),
        ("TE chunked, identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
         .invalidTransferEncoding),
        ("TE xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", .invalidTransferEncoding),
        ("TE chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         .invalidTransferEncoding),
        ("TE empty element", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n\r\n", .invalidTransferEncoding),
        ("TE gzip, chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
         .unsupportedTransferEncoding),
        ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .invalidTransferEncoding),
        ("differing CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
         .invalidContentLength),
        ("differing CL list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 3\r\n\r\nabc", .invalidContentLength),
        ("negative CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", .invalidContentLength),
        ("plus CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\na", .invalidContentLength),
        ("hex CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", .invalidContentLength),
        ("empty CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", .invalidContentLength),
        ("overflowing CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
         .invalidContentLength),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n", .obsFold),
        ("first field folded", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", .obsFold),
        ("space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", .whitespaceBeforeColon),
        ("tab before colon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", .whitespaceBeforeColon),
        ("space in name", "GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n", .invalidHeaderName),
        ("empty name", "GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n", .invalidHeaderName),
        ("no colon", "GET / HTTP/1.1\r\nHost: h\r\nXYZ\r\n\r\n", .invalidHeaderName),
        ("NUL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n", .invalidHeaderValue),
        ("CR in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", .invalidHeaderValue),
        ("DEL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{7F}\r\n\r\n", .invalidHeaderValue),
        ("bare LF in fields", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", .invalidLineEnding),
        ("bare LF request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", .invalidLineEnding),
        ("bare LF end of head", "GET / HTTP/1.1\r\nHost: h\r\n\n", .invalidLineEnding),
        ("missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", .missingHost),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .multipleHosts),
        ("lower-case method ok, bad char", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", .invalidMethod),
        ("double space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", .invalidRequestLine),
        ("no version", "GET /\r\nHost: h\r\n\r\n", .invalidRequestLine),
        ("bad version", "GET / HTTP/1.x\r\nHost: h\r\n\r\n", .invalidVersion),
        ("lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", .invalidVersion),
        ("HTTP/2.0 on 1.1 wire", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", .versionNotSupported),
        ("target with control byte", "GET /a\u{1}b HTTP/1.1\r\nHost: h\r\n\r\n", .invalidRequestTarget),
        ("target with non-ASCII", "GET /caf\u{e9} HTTP/1.1\r\nHost: h\r\n\r\n", .invalidRequestTarget),
        ("relative target", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", .invalidRequestTarget),
        ("asterisk with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", .invalidRequestTarget),
        ("CONNECT origin-form", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", .invalidRequestTarget),
        ("bad chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\n", .invalidChunkSize),
        ("empty chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", .invalidChunkSize),
        ("negative chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", .invalidChunkSize),
        ("chunk size overflow",
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", .invalidChunkSize),
        ("chunk size 0x prefix", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", .invalidChunkSize),
        ("space after chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\n", .invalidChunkExtension),
        ("bad chunk extension", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;=x\r\n", .invalidChunkExtension),
        ("unterminated quoted extension",
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"x\r\n", .invalidChunkExtension),
        ("bare LF after chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello", .invalidChunkSize),
        ("missing CRLF after chunk data",
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", .invalidChunkTerminator),
        ("chunk data too long",
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", .invalidChunkTerminator),
        ("bad trailer", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Name: x\r\n\r\n",
         .invalidHeaderName),
        ("bare LF in trailers", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n",
         .invalidLineEnding),
        ("CL over limit", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", .bodyTooLarge),
    ]

    @Test(arguments: 0..<cases.count)
    func isRejected(_ index: Int) {
        let (name, text, code) = Self.cases[index]
        let events = parseRequests(text)
        #expect(rejection(events) == code, "\(name): \(events)")
        #expect(HTTPParseError(code).description.contains(String(describing: code)))
    }

    @Test func errorStatuses() {
        #expect(HTTPParseError(.requestLineTooLong).status == .uriTooLong)
        #expect(HTTPParseError(.headersTooLarge).status == .requestHeaderFieldsTooLarge)
        #expect(HTTPParseError(.tooManyHeaders).status == .requestHeaderFieldsTooLarge)
        #expect(HTTPParseError(.bodyTooLarge).status == .payloadTooLarge)
        #expect(HTTPParseError(.versionNotSupported).status == .httpVersionNotSupported)
        #expect(HTTPParseError(.unsupportedTransferEncoding).status == .notImplemented)
        #expect(HTTPParseError(.conflictingLengths).status == .badRequest)
        #expect(HTTPParseError(.obsFold).status == .badRequest)
    }

    @Test func requestLineTooLong() {
        let target = "/" + String(repeating: "a", count: 8192)
        let events = parseRequests("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(rejection(events) == .requestLineTooLong)
        // Refused before the line ends, so a client cannot make us buffer without bound.
        #expect(rejection(parseRequests("GET \(target)")) == .requestLineTooLong)
        #expect(rejection(parseRequests(String(repeating: "\r\n", count: 5000))) == .requestLineTooLong)
    }

    @Test func requestLineAtLimitIsAccepted() {
        let line = "GET /" + String(repeating: "a", count: 8192 - 14) + " HTTP/1.1"
        #expect(line.utf8.count == 8192)
        #expect(parseRequests(line + "\r\nHost: h\r\n\r\n").count == 2)
    }

    @Test func headerSectionTooLarge() {
        let big = "X: " + String(repeating: "v", count: 32768) + "\r\n"
        #expect(rejection(parseRequests("GET / HTTP/1.1\r\nHost: h\r\n" + big + "\r\n")) == .headersTooLarge)
        #expect(rejection(parseRequests("GET / HTTP/1.1\r\nHost: h\r\n" + big)) == .headersTooLarge)
    }

    @Test func tooManyHeaders() {
        let fields = (0..<100).map { "X-\($0): v\r\n" }.joined()
        #expect(rejection(parseRequests("GET / HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n")) == .tooManyHeaders)
        let fewer = (0..<99).map { "X-\($0): v\r\n" }.joined()
        #expect(parseRequests("GET / HTTP/1.1\r\nHost: h\r\n" + fewer + "\r\n").count == 2)
    }

    @Test func chunkedBodyOverLimit() {
        var limits = HTTPParserLimits()
        limits.maxBodySize = 8
        let text = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n"
        let events = parseRequests(text, limits: limits)
        #expect(rejection(events) == .bodyTooLarge)
        #expect(events.contains(.body(bytes("hello"))))
        limits.maxBodySize = nil
        #expect(rejection(parseRequests(text, limits: limits)) == nil)
    }

    @Test func chunkLineTooLong() {
        let extensions = String(repeating: ";a=b", count: 1100)
        let text = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\(extensions)\r\nhello\r\n0\r\n\r\n"
        #expect(rejection(parseRequests(text)) == .chunkLineTooLong)
    }

    @Test func errorRepeatsUntilReset() {
        var parser = HTTPRequestParser()
        let bad = bytes("GET / HTTP/1.1\r\nHost : h\r\n\r\n")
        let good = bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(rejection(drive(&parser, bad, segments: [0..<bad.count])) == .whitespaceBeforeColon)
        #expect(rejection(drive(&parser, good, segments: [0..<good.count])) == .whitespaceBeforeColon)
        parser.reset()
        #expect(drive(&parser, good, segments: [0..<good.count]).count == 2)
    }
}
