import Logging
import ServiceKit
import Telemetry
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
}
