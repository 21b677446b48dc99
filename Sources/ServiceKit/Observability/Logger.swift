import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Structured logs: one JSON object per line on stdout, written with one `write(2)` each,
/// so lines from different loops never interleave and nothing sits in a stdio buffer when
/// the process is killed.
///
/// `{"ts":"2026-11-25T16:22:47.123Z","level":"info","service":"movie-service","msg":"...", ...}`
/// Callers pass fields explicitly; nothing ever logs a body, a password, a hash or a token.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case debug = 0, info, warning, error

        public var name: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }

        /// `debug`, `info`, `warning`/`warn`, `error`, any case.
        public init?(name: String) {
            switch name.lowercased() {
            case "debug": self = .debug
            case "info": self = .info
            case "warning", "warn": self = .warning
            case "error": self = .error
            default: return nil
            }
        }

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Where lines go: stdout by default; tests capture them.
    public struct Sink: Sendable {
        let write: @Sendable ([UInt8]) -> Void

        public init(_ write: @escaping @Sendable ([UInt8]) -> Void) { self.write = write }

        /// `write(2)` on fd 1, retried on EINTR and short writes.
        public static let standardOutput = Sink { line in
            // Scoped pointer: valid for this synchronous write loop only.
            line.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                var offset = 0
                while offset < buffer.count {
                    let n = Glibc.write(1, base + offset, buffer.count - offset)
                    if n > 0 {
                        offset += n
                    } else if n < 0 && errno == EINTR {
                        continue
                    } else {
                        return  // stdout gone: logging must never take the service down
                    }
                }
            }
        }
    }

    public let service: String
    public let level: Level
    let sink: Sink

    public init(service: String, level: Level = .info, sink: Sink = .standardOutput) {
        self.service = service
        self.level = level
        self.sink = sink
    }

    public func isEnabled(_ level: Level) -> Bool { level >= self.level }

    /// Logs `message` with extra `fields` (written in order after the standard ones).
    public func log(_ level: Level, _ message: String, _ fields: KeyValuePairs<String, JSONValue> = [:]) {
        guard isEnabled(level) else { return }
        var json = beginLine(level)
        json.field("msg", message)
        for (key, value) in fields { json.field(key, value) }
        endLine(&json)
    }

    public func debug(_ message: String, _ fields: KeyValuePairs<String, JSONValue> = [:]) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: KeyValuePairs<String, JSONValue> = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: KeyValuePairs<String, JSONValue> = [:]) {
        log(.warning, message, fields)
    }
    public func error(_ message: String, _ fields: KeyValuePairs<String, JSONValue> = [:]) { log(.error, message, fields) }

    /// Starts a line with `ts`, `level` and `service`; finish it with ``endLine(_:)``.
    func beginLine(_ level: Level) -> JSONWriter {
        var json = JSONWriter(capacity: 320)
        json.beginObject()
        json.key("ts")
        var ts: [UInt8] = [UInt8(ascii: "\"")]
        Timestamp.now().append(to: &ts, fractionDigits: 3)
        ts.append(UInt8(ascii: "\""))
        json.raw(ts)
        json.field("level", level.name)
        json.field("service", service)
        return json
    }

    func endLine(_ json: inout JSONWriter) {
        json.endObject()
        var bytes = json.bytes
        bytes.append(0x0A)
        sink.write(bytes)
    }
}

/// Collects log lines in memory, for tests.
public final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    public var sink: Logger.Sink {
        Logger.Sink { [self] bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            lines.withLock { $0.append(text) }
        }
    }

    public var captured: [String] { lines.withLock { $0 } }
}
