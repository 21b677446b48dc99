#if canImport(Glibc)
import Glibc
import Testing

@testable import HTTP

/// Every call's input ends right before an unreadable page (as in picohttpparser's test.c),
/// so a parser that reads one byte too far crashes here instead of passing by luck.
@Suite("HTTP parsers against a guard page", .timeLimit(.minutes(5)))
struct HTTPGuardPageTests {
    /// A readable page followed by a `PROT_NONE` page.
    final class GuardedPage {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let base: UnsafeMutableRawPointer

        init() {
            // Two pages: the first one readable, the second one a guard.
            let mapping = mmap(nil, 2 * pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            precondition(mapping != MAP_FAILED, "mmap failed")
            base = mapping!
            precondition(mprotect(base + pageSize, pageSize, PROT_NONE) == 0, "mprotect failed")
        }

        deinit { munmap(base, 2 * pageSize) }

        /// Copies `bytes` so that they end at the guard, and lends them to `body`.
        func withBytesBeforeGuard<R>(_ bytes: ArraySlice<UInt8>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
            precondition(bytes.count <= pageSize)
            let start = base + pageSize - bytes.count
            // Safe: [start, start + count) lies inside the readable page.
            bytes.withUnsafeBytes { start.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return body(UnsafeRawBufferPointer(start: start, count: bytes.count))
        }
    }

    /// Feeds `input` one more byte per step, each time with the unread bytes ending at the guard.
    private func feedGrowing<Parser: IncrementalParser>(_ parser: inout Parser, _ input: [UInt8], page: GuardedPage) -> Int {
        var readIndex = 0
        var events = 0
        for end in 1...input.count {
            while true {
                let event = page.withBytesBeforeGuard(input[readIndex..<end]) { parser.next($0) }
                if case .needMore = event { break }
                events += 1
                readIndex += event.consumed
                if case .invalid = event { return events }
            }
        }
        return events
    }

    @Test func requestCorpora() {
        let page = GuardedPage()
        let inputs = HTTPRequestParserHostileTests.cases.map(\.1) + [
            "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\nT: v\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
        ]
        for text in inputs where text.utf8.count < page.pageSize {
            var parser = HTTPRequestParser()
            #expect(feedGrowing(&parser, bytes(text), page: page) > 0)
        }
    }

    @Test func responseCorpora() {
        let page = GuardedPage()
        for text in HTTPResponseParserTests.hostile.map(\.0) + [
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        ] {
            var parser = HTTPResponseParser()
            #expect(feedGrowing(&parser, bytes(text), page: page) > 0)
        }
    }
}
#endif
