#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceKit
@testable import Telemetry
import Testing

/// The process's log format: swift-log calls in, JSON lines out.
@Suite(.timeLimit(.minutes(5))) struct JSONLogHandlerTests {
    @Test func oneJSONObjectPerLineWithTypedValuesInKeyOrder() throws {
        let logs = LogCapture()
        let logger = Logger(service: "movie-service", level: .info, sink: logs.sink)
        logger.info(
            "started",
            metadata: [
                "port": .stringConvertible(8002), "pinned": .stringConvertible(true), "host": .string("127.0.0.1"),
                "ratio": .stringConvertible(0.5), "versions": .array([.stringConvertible(1), .stringConvertible(2)]),
                "note": .string("a \"quoted\"\nline"),
            ])
        logger.debug("not written at info")
        struct Failure: Error, CustomStringConvertible { var description: String { "database gone" } }
        logger.error("set-up failed", error: Failure())
        let lines = logs.captured
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.hasSuffix("}\n") && $0.dropLast().firstIndex(of: "\n") == nil })
        #expect(lines[0].hasPrefix(#"{"ts":""#))
        #expect(
            lines[0].hasSuffix(
                #","level":"info","service":"movie-service","msg":"started","host":"127.0.0.1","note":"a \"quoted\"\nline","pinned":true,"port":8002,"ratio":0.5,"versions":[1,2]}"#
                    + "\n"))
        let failure = try JSONParser.parse(lines[1])
        #expect(failure["level"] == .string("error"))
        #expect(failure["error"] == .string("database gone"))
    }

    @Test func levelsFromTheSetting() {
        #expect(Logger.Level(setting: "DEBUG") == .debug)
        #expect(Logger.Level(setting: "warning") == .warning)
        #expect(Logger.Level(setting: "loud") == nil)
    }

    /// A JSON string as the reference writes it: byte by byte.
    private static func quotedByBytes(_ text: String) -> String {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += Array(#"\""#.utf8)
            case UInt8(ascii: "\\"): out += Array(#"\\"#.utf8)
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            case 0..<0x20: out += Array((#"\u00"# + (byte < 16 ? "0" : "") + String(byte, radix: 16)).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    private static func quoted(_ text: String) -> String {
        JSONLogLine.withLine { line in
            line.string(text)
            return line.text
        }
    }

    @Test func stringsAreEscapedWhereverTheByteToEscapeSits() {
        // Every length around the eight-byte words, with each escaped byte at every position
        // (the word scan, its overlapping last word and the short-value padding).
        for length in 0...27 {
            let plain = String(repeating: "a", count: length)
            #expect(Self.quoted(plain) == "\"" + plain + "\"")
            for special: UInt8 in [0x00, 0x01, 0x09, 0x0A, 0x1F, UInt8(ascii: "\""), UInt8(ascii: "\\")] {
                for position in 0..<length {
                    var bytes = Array(plain.utf8)
                    bytes[position] = special
                    let text = String(decoding: bytes, as: UTF8.self)
                    #expect(Self.quoted(text) == Self.quotedByBytes(text), "byte \(special) at \(position) of \(length)")
                }
            }
        }
        // Bytes next to the escaped ones are not: space, `#`, `[`, `]`, DEL, non-ASCII.
        let neighbours = " !#[]~\u{7F}é→"
        #expect(Self.quoted(neighbours) == "\"" + neighbours + "\"")
    }

    @Test func theWordTestFindsExactlyTheBytesToEscape() {
        var generator = SystemRandomNumberGenerator()
        let interesting: [UInt8] = [0x00, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0xA2, 0xDC, 0xFF]
        for _ in 0..<20_000 {
            var word: UInt64 = 0
            var expected = false
            for index in 0..<8 {
                let byte =
                    Bool.random(using: &generator)
                    ? interesting.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
                expected = expected || byte < 0x20 || byte == 0x22 || byte == 0x5C
                word |= UInt64(byte) << (8 * index)
            }
            #expect(JSONLogLine.holdsByteToEscape(word) == expected, "word \(String(word, radix: 16))")
        }
    }

    @Test func aLineLongerThanItsStackRoomIsWrittenWhole() throws {
        let logs = LogCapture()
        let logger = Logger(service: "movie-service", level: .info, sink: logs.sink)
        let long = String(repeating: "0123456789", count: 300)
        logger.info("long", metadata: ["a": .string(long), "b": .string("x\"" + long)])
        let line = try #require(logs.captured.first)
        #expect(line.utf8.count > 2 * JSONLogLine.stackCapacity)
        let object = try JSONParser.parse(line)
        #expect(object["a"] == .string(long))
        #expect(object["b"] == .string("x\"" + long))
    }

    @Test func timestampsMatchTheCLibrary() {
        // The epoch, leap days, century years, the end of a year, and times around today.
        var moments: [Int] = [0, 951_782_400, 951_868_799, 4_107_542_399, 1_709_164_800, 1_735_689_599, 4_102_444_800]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { moments.append(Int.random(in: 0...4_200_000_000, using: &generator)) }
        for seconds in moments {
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
            let expected =
                "\"\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
                + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).042Z\""
            let written = JSONLogLine.withLine { line in
                line.appendTimestamp(seconds: seconds, milliseconds: 42)
                return line.text
            }
            #expect(written == expected, "\(seconds)")
        }
    }
}
