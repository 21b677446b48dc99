import Testing

@testable import HTTP

/// `HTTPHeaders` stores a field name's length in 16 bits: with a header limit large enough
/// to hold a longer name, the parser must refuse it (431) rather than store it truncated.
@Suite("Header name length", .timeLimit(.minutes(5)))
struct HeaderNameLengthTests {
    static let limits = HTTPParserLimits(maxHeaderBytes: 200_000)

    static func request(nameLength: Int) -> [UInt8] {
        Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: nameLength)
            + Array(": 1\r\n\r\n".utf8)
    }

    @Test func nameLongerThan65535BytesIsRefusedWith431() {
        var parser = HTTPRequestParser(limits: Self.limits)
        let input = Self.request(nameLength: 70_000)
        let events = drive(&parser, input, segments: [0..<input.count])
        #expect(events == [.invalid(.headersTooLarge)], "\(events.map(\.description).joined().prefix(200))")
        #expect(HTTPParseError(.headersTooLarge).status == .requestHeaderFieldsTooLarge)
    }

    @Test func nameOf65535BytesIsKeptWhole() throws {
        var parser = HTTPRequestParser(limits: Self.limits)
        let input = Self.request(nameLength: 65_535)
        let events = drive(&parser, input, segments: [0..<input.count])
        guard case .head(let head) = events.first else {
            Issue.record("no head: \(events.map(\.description).joined().prefix(200))")
            return
        }
        let names = head.headers.map(\.name)
        #expect(names.count == 2)
        #expect(names.last?.utf8.count == 65_535)
    }
}
