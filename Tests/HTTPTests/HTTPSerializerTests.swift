import Testing

@testable import HTTP

@Suite("HTTP serializers", .timeLimit(.minutes(5)))
struct HTTPSerializerTests {
    @Test func responseHeadRoundTrip() {
        let head = HTTPResponseHead(
            status: .created, headers: ["Content-Length": "2", "Location": "/api/users/7", "X-Request-ID": "abc"])
        var buffer: [UInt8] = []
        head.write(into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self)
            == "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nLocation: /api/users/7\r\nX-Request-ID: abc\r\n\r\n")
        buffer += bytes("{}")
        let events = parseResponses(String(decoding: buffer, as: UTF8.self))
        #expect(events == [.head(head), .body(bytes("{}")), .end(trailers: nil)])
    }

    @Test func requestHeadRoundTrip() {
        let head = HTTPRequestHead(
            method: .PATCH, target: "/api/movies/3?x=1", version: .http1_1,
            headers: ["Host": "movies:8002", "Content-Length": "0"])
        var buffer: [UInt8] = []
        head.write(into: &buffer)
        #expect(parseRequests(String(decoding: buffer, as: UTF8.self)) == [.head(head), .end(trailers: nil)])
    }

    @Test func chunkedRoundTrip() {
        var buffer: [UInt8] = []
        HTTPResponseHead(status: .ok, headers: ["Transfer-Encoding": "chunked"]).write(into: &buffer)
        ChunkedEncoding.writeChunk(bytes("hello "), into: &buffer)
        ChunkedEncoding.writeChunk([UInt8](), into: &buffer)
        ChunkedEncoding.writeChunk([UInt8](repeating: UInt8(ascii: "x"), count: 300), into: &buffer)
        buffer += ChunkedEncoding.terminator
        let events = parseResponses(String(decoding: buffer, as: UTF8.self))
        #expect(events.dropFirst().first == .body(bytes("hello ") + [UInt8](repeating: UInt8(ascii: "x"), count: 300)))
        #expect(events.last == .end(trailers: nil))

        var withTrailers: [UInt8] = []
        HTTPResponseHead(status: .ok, headers: ["Transfer-Encoding": "chunked"]).write(into: &withTrailers)
        ChunkedEncoding.writeChunk(bytes("a"), into: &withTrailers)
        ChunkedEncoding.writeTerminator(trailers: ["Digest": "sha-256=x"], into: &withTrailers)
        #expect(parseResponses(String(decoding: withTrailers, as: UTF8.self)).last == .end(trailers: ["Digest": "sha-256=x"]))
    }

    @Test func chunkHeaderIsHex() {
        for (size, text) in [(1, "1"), (15, "f"), (16, "10"), (255, "ff"), (4096, "1000"), (0x7fff_ffff, "7fffffff")] {
            var buffer: [UInt8] = []
            ChunkedEncoding.writeChunkHeader(size: size, into: &buffer)
            #expect(buffer == bytes(text + "\r\n"))
        }
        #expect(ChunkedEncoding.terminator == bytes("0\r\n\r\n"))
    }

    @Test func imfFixdate() {
        #expect(HTTPDate.format(secondsSince1970: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(secondsSince1970: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(secondsSince1970: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(HTTPDate.format(secondsSince1970: 1_795_623_767) == "Wed, 25 Nov 2026 16:22:47 GMT")
        #expect(HTTPDate.format(secondsSince1970: 4_133_980_799) == "Fri, 31 Dec 2100 23:59:59 GMT")
        #expect(HTTPDate.format(secondsSince1970: -1) == "Wed, 31 Dec 1969 23:59:59 GMT")
    }

    /// The head writer's bounds are exact where they are computed (numbers, versions,
    /// status lines, field lines), so a head that fills them writes every byte.
    @Test func headWriterBoundsAreExact() {
        for value in [0, 1, 9, 10, 99, 100, 65535, 1 << 40, Int.max] {
            #expect(HTTPHeadWriter.decimalLength(value) == String(value).utf8.count)
            var buffer: [UInt8] = [1, 2]
            HTTPHeadWriter.append(to: &buffer, atMost: HTTPHeadWriter.decimalLength(value)) { $0.decimal(value) }
            #expect(buffer == [1, 2] + bytes(String(value)))
        }
        let statuses: [(HTTPVersion, HTTPStatus)] = [
            (.http1_1, .ok), (.http1_1, .init(code: 200, reasonPhrase: "Okay")), (.http1_1, .notFound), (.http1_1, .noContent),
            (.http1_0, .ok), (.http1_0, .gatewayTimeout), (.init(major: 12, minor: 345), .init(code: 299)),
        ]
        for (version, status) in statuses {
            var buffer: [UInt8] = []
            let length = HTTPHeadWriter.statusLineLength(version: version, status: status)
            HTTPHeadWriter.append(to: &buffer, atMost: length) { $0.statusLine(version: version, status: status) }
            #expect(buffer.count == length)
            #expect(String(decoding: buffer, as: UTF8.self) == "\(version) \(status.code) \(status.reasonPhrase)\r\n")
        }
        var headers = HTTPHeaders()
        for index in 0..<100 { headers.add(name: "X-Field-\(index)", value: String(repeating: "v", count: index * 7)) }
        var lines: [UInt8] = []
        HTTPHeadWriter.append(to: &lines, atMost: headers.lineByteCount) { $0.fields(headers) }
        #expect(lines.count == headers.lineByteCount)
        #expect(String(decoding: lines, as: UTF8.self) == headers.map { "\($0.name): \($0.value)\r\n" }.joined())
    }

    @Test func statusReasonPhrases() {
        #expect(HTTPStatus(code: 404).reasonPhrase == "Not Found")
        #expect(HTTPStatus(code: 299).reasonPhrase == "")
        #expect(HTTPStatus(code: 200, reasonPhrase: "Okay") == .ok)
    }
}

@Suite("HTTP byte classes", .timeLimit(.minutes(5)))
struct HTTPByteClassTests {
    /// The word-at-a-time scan must stop exactly where the byte-by-byte rule does, for
    /// every stop byte at every position of every alignment (and HTAB must not stop it).
    @Test func endOfFieldValueMatchesTheByteRule() {
        func reference(_ bytes: [UInt8], from start: Int) -> Int {
            var index = start
            while index < bytes.count, HTTPByteClass.isFieldValue(bytes[index]) { index += 1 }
            return index
        }
        var interesting: [UInt8] = [0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x41, 0x7E, 0x7F, 0x80, 0xFF]
        interesting += (0..<8).map { _ in UInt8.random(in: 0...255) }
        for length in 0..<24 {
            for start in 0...min(length, 3) {
                for position in 0..<max(length, 1) {
                    for special in interesting {
                        var bytes = (0..<length).map { _ in UInt8.random(in: 0x20...0x7E) }
                        if position < length { bytes[position] = special }
                        let got = bytes.withUnsafeBytes { HTTPByteClass.endOfFieldValue($0, from: start) }
                        #expect(got == reference(bytes, from: start), "\(bytes) from \(start)")
                    }
                }
            }
        }
    }
}

@Suite("HTTP message types", .timeLimit(.minutes(5)))
struct HTTPMessageTests {
    @Test func headersLookupIgnoresCase() {
        var headers: HTTPHeaders = ["Content-Type": "text/plain", "Set-Cookie": "a", "set-cookie": "b"]
        #expect(headers["content-type"] == "text/plain")
        #expect(headers.values("SET-COOKIE") == ["a", "b"])
        #expect(headers.contains(name: "CONTENT-TYPE"))
        headers.replaceOrAdd(name: "Set-Cookie", value: "c")
        #expect(headers.values("set-cookie") == ["c"])
        #expect(headers.count == 2)
        headers.remove(name: "content-type")
        #expect(!headers.contains(name: "Content-Type"))
        headers.replaceOrAdd(name: "X-New", value: "1")
        #expect(headers["x-new"] == "1")
        // Absent: appended; present (the names filter knows it now): replaced, not repeated.
        headers.replaceOrAdd(.xRequestID, value: "first")
        headers.replaceOrAdd(.xRequestID, value: "second")
        #expect(headers.values("x-request-id") == ["second"])
        #expect(headers.count == 3)
    }

    /// A proxy copies `Host` into `X-Forwarded-Host` as bytes: the first value, whatever
    /// its case, also when the copy makes the storage grow (the value is read from it).
    @Test func aFieldCopiesAnothersValue() {
        var headers: HTTPHeaders = ["host": "example.com:8080", "Host": "second"]
        let copied = headers.add(.xForwardedHost, copyingValueOf: .host)
        #expect(copied)
        #expect(headers["X-Forwarded-Host"] == "example.com:8080")
        #expect(headers.count == 3)
        #expect(Array(headers).last?.name == "X-Forwarded-Host")
        var none: HTTPHeaders = ["Accept": "*/*"]
        let copiedNothing = none.add(.xForwardedHost, copyingValueOf: .host)
        #expect(!copiedNothing)
        #expect(none.count == 1 && !none.contains(.xForwardedHost))
        let long = String(repeating: "h", count: 5000)
        var grows: HTTPHeaders = ["Host": long]
        let grew = grows.add(.xForwardedHost, copyingValueOf: .host)
        #expect(grew)
        #expect(grows["x-forwarded-host"] == long)
    }

    /// Fields appended together (a proxy's) are the fields added one by one: when they all
    /// fit the appender's scratch, when they fill it several times over, and with one
    /// larger than all of it.
    @Test func fieldsAppendedTogetherAreTheFieldsAddedOneByOne() {
        let cases: [[String]] = [
            ["a", "b"],
            (0..<40).map { "value-\($0)-" + String(repeating: "v", count: 20) },
            ["short", String(repeating: "x", count: 3000), "after"],
        ]
        for values in cases {
            var together: HTTPHeaders = ["Host": "example.com", "Accept": "*/*"]
            var oneByOne = together
            together.appendFields { fields in
                for value in values { fields.add(.xForwardedFor, value: value) }
                fields.add(.xForwardedHost, copyingValueOf: .host)
                let copiedNothing = fields.add(.xUserID, copyingValueOf: .authorization)
                #expect(!copiedNothing)
                fields.add(.traceparent, tokenValueCount: 4) { $0.copyBytes(from: "ab-9".utf8) }
            }
            for value in values { oneByOne.add(.xForwardedFor, value: value) }
            oneByOne.add(.xForwardedHost, copyingValueOf: .host)
            oneByOne.add(.traceparent, value: "ab-9")
            #expect(together == oneByOne)
            #expect(together.values("x-forwarded-for") == values)
            #expect(together["X-Forwarded-Host"] == "example.com")
            #expect(together[.traceparent] == "ab-9")
            #expect(!together.contains(.xUserID))
        }
    }

    /// The names filter must never hide a field: after random adds and removals, every
    /// look-up agrees with a walk over the fields.
    @Test func lookupsAgreeWithAWalkAfterEdits() {
        let pool = [
            "Host", "Connection", "content-length", "X-Cache", "x-request-id", "TE", "Te", "Accept",
            "X-Forwarded-For", "Transfer-Encoding", "Date", "DATE", "a", "B", "x", "Keep-Alive", "Upgrade",
        ]
        for _ in 0..<300 {
            var headers = HTTPHeaders()
            for _ in 0..<Int.random(in: 0...12) {
                headers.add(name: pool.randomElement() ?? "Host", value: "close")
            }
            if Bool.random() {
                let doomed = pool.randomElement() ?? "Host"
                headers.removeAll { name, _ in HTTPHeaders.name(name, is: doomed) }
            }
            for name in pool {
                let walked = headers.contains { $0.name.lowercased() == name.lowercased() }
                #expect(headers.contains(name: name) == walked, "\(name) in \(headers)")
                #expect((headers[name] != nil) == walked)
                #expect(headers.values(name).isEmpty == !walked)
            }
            let hasConnection = headers.contains { $0.name.lowercased() == "connection" }
            #expect(headers.connectionContains("close") == hasConnection)
        }
    }

    /// The fields a request's path looks up and usually lacks get bits that the fields
    /// heads usually have do not set, so those look-ups walk nothing.
    @Test func usuallyAbsentFieldsDoNotShareABitWithCommonOnes() {
        let common = [
            "host", "date", "content-type", "content-length", "x-cache", "accept", "accept-encoding",
            "user-agent", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "server",
            "accept-language", "cookie", "referer", "origin", "cache-control",
        ]
        let usuallyAbsent = [
            "connection", "transfer-encoding", "expect", "x-request-id", "authorization", "upgrade", "te",
            "keep-alive", "trailer", "proxy-connection", "x-user-id", "x-real-ip", "forwarded",
            "strict-transport-security",
        ]
        func bit(_ name: String) -> UInt64 {
            Array(name.utf8).withUnsafeBytes { HTTPHeaders.nameBit($0) }
        }
        let commonBits = common.reduce(UInt64(0)) { $0 | bit($1) }
        for name in usuallyAbsent {
            #expect(commonBits & bit(name) == 0, "\(name) shares a bit with a common field")
            #expect(bit(name) == bit(name.uppercased()))
        }
    }

    /// A field added or looked up under an `HTTPFieldName` is the same field as under its
    /// `String` spelling, in any case, through the filter and after edits.
    @Test func namedFieldsAgreeWithStringNames() {
        let named: [HTTPFieldName] = [
            .authorization, .connection, .contentLength, .contentType, .expect, .host, .location,
            .strictTransportSecurity, .transferEncoding, .xForwardedFor, .xForwardedHost, .xForwardedProto,
            .xRequestID, .xUserID,
        ]
        for _ in 0..<200 {
            var byName = HTTPHeaders()
            var byString = HTTPHeaders()
            for _ in 0..<Int.random(in: 0...8) {
                let name = named.randomElement() ?? .host
                let value = String(Int.random(in: 0...999))
                byName.add(name, value: value)
                byString.add(name: name.description, value: value)
            }
            if Bool.random(), let name = named.randomElement() {
                byName.replaceOrAdd(name, value: "replaced")
                byString.replaceOrAdd(name: name.description, value: "replaced")
            }
            #expect(byName == byString)
            for name in named {
                let spelled = Bool.random() ? name.description.lowercased() : name.description.uppercased()
                #expect(byName[name] == byString[spelled], "\(name) in \(byName)")
                #expect(byName.contains(name) == byString.contains(name: spelled))
            }
        }
        #expect(HTTPFieldName("x-request-id") == .xRequestID)
        #expect(HTTPFieldName("X-Request-Id") != .xUserID)
    }

    @Test func removeAllEditsInPlaceAndKeepsOrder() {
        var headers: HTTPHeaders = [
            "Host": "h", "Connection": "x-a", "X-A": "1", "Accept": "*/*", "x-a": "2", "User-Agent": "curl",
        ]
        headers.removeAll { name, _ in HTTPASCII.equalsIgnoringCase(name, lowercase: "x-a") }
        #expect(headers == ["Host": "h", "Connection": "x-a", "Accept": "*/*", "User-Agent": "curl"])
        #expect(headers.count == 4)
        headers.removeAll { _, value in value.elementsEqual("h".utf8) }
        #expect(Array(headers.map(\.name)) == ["Connection", "Accept", "User-Agent"])
        headers.removeAll { _, _ in true }
        #expect(headers.isEmpty && headers == HTTPHeaders())
        headers.add(name: "A", value: "1")
        #expect(headers["a"] == "1")
    }

    @Test func replaceOrAddKeepsTheFirstPlaceAndSpelling() {
        var headers: HTTPHeaders = ["set-cookie": "a", "Host": "h", "Set-Cookie": "b"]
        headers.replaceOrAdd(name: "SET-COOKIE", value: "c")
        #expect(headers == ["set-cookie": "c", "Host": "h"])
    }

    @Test func fieldBytesAndStringsAgree() {
        let headers: HTTPHeaders = ["Host": "example.com:8080", "Accept": "", "X-Long": String(repeating: "v", count: 300)]
        var seen: [HTTPHeaders.Field] = []
        headers.forEachField { name, value in
            seen.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        #expect(seen.map(\.name) == headers.map(\.name))
        #expect(seen.map(\.value) == headers.map(\.value))
        #expect(headers["accept"] == "")
        #expect(headers["x-long"]?.utf8.count == 300)
        #expect(headers.description == "[Host: example.com:8080, Accept: , X-Long: \(String(repeating: "v", count: 300))]")
    }

    /// Parsed lines are written back in canonical form (`name: value` CRLF, the value's
    /// surrounding whitespace gone), and `obs-text` bytes pass through exactly as received.
    @Test func parsedFieldsAreWrittenCanonicallyAndVerbatim() throws {
        let input: [UInt8] =
            Array("GET / HTTP/1.1\r\nHost:h\r\nX-Latin:  caf".utf8) + [0xE9] + Array(" \t\r\nX-Empty:\r\n\r\n".utf8)
        var parser = HTTPRequestParser()
        let event = input.withUnsafeBytes { parser.next($0) }
        guard case .head(let head, _) = event else {
            Issue.record("expected a head, got \(event)")
            return
        }
        var written: [UInt8] = []
        head.write(into: &written)
        let expected: [UInt8] =
            Array("GET / HTTP/1.1\r\nHost: h\r\nX-Latin: caf".utf8) + [0xE9] + Array("\r\nX-Empty: \r\n\r\n".utf8)
        #expect(written == expected)
        #expect(head.headers["x-latin"] == "caf\u{FFFD}")
    }

    @Test func connectionTokens() {
        let headers: HTTPHeaders = ["Connection": " Keep-Alive , Upgrade,,", "connection": "X-Hop"]
        #expect(headers.connectionTokens == ["keep-alive", "upgrade", "x-hop"])
        let close = HTTPRequestHead(method: .GET, target: "/", headers: ["Connection": "foo, CLOSE"])
        #expect(!close.keepAlive)
    }

    @Test func methods() {
        #expect(HTTPMethod(rawValue: "GET") == .GET)
        #expect(HTTPMethod(rawValue: "PROPFIND")?.rawValue == "PROPFIND")
        #expect(HTTPMethod(rawValue: "GE T") == nil)
        #expect(HTTPMethod(rawValue: "") == nil)
        #expect(HTTPMethod.PUT.isIdempotent && HTTPMethod.DELETE.isIdempotent && !HTTPMethod.POST.isIdempotent)
        #expect(!HTTPMethod.PATCH.isIdempotent)
    }

    @Test func pathAndQuery() {
        func head(_ target: String) -> HTTPRequestHead { HTTPRequestHead(method: .GET, target: target) }
        #expect(head("/a/b").path == "/a/b")
        #expect(head("/a/b").query == nil)
        #expect(head("/a?").query == "")
        #expect(head("/a?b=1?c").query == "b=1?c")
        #expect(head("http://h").path == "/")
        #expect(head("http://h?q=1").path == "/")
        #expect(head("http://h?q=1").query == "q=1")
        #expect(head("*").path == "*")
        // Origin-form without a query takes a shortcut; with one, or long, or not ASCII,
        // the path is the same as the general way finds it.
        #expect(head("/a?b").path == "/a")
        #expect(head("/").path == "/")
        #expect(head("/é/ü?x=ß").path == "/é/ü")
        #expect(head("/" + String(repeating: "x", count: 300)).path.utf8.count == 301)
        #expect(head("a/b").path == "a/b")
    }
}
