import HTTP

#if canImport(Glibc)
import Glibc
#endif

/// One request as the access log records it.
public struct AccessLogRecord: Sendable {
    /// Wall-clock time the request arrived, seconds since the epoch (with fraction).
    public var time: Double
    public var requestID: String
    public var client: String
    public var method: String
    /// The path without its query (queries may carry personal data).
    public var path: String
    public var status: Int
    /// Response body bytes sent to the client.
    public var bytes: Int
    /// The instance that answered (`127.0.0.1:8002`), or nil when the gateway answered.
    public var upstream: String?
    /// Seconds from sending upstream to its response head, or nil.
    public var upstreamTime: Double?
    /// Seconds from the request's head to the end of the response.
    public var totalTime: Double

    public init(
        time: Double, requestID: String, client: String, method: String, path: String, status: Int,
        bytes: Int, upstream: String?, upstreamTime: Double?, totalTime: Double
    ) {
        self.time = time
        self.requestID = requestID
        self.client = client
        self.method = method
        self.path = path
        self.status = status
        self.bytes = bytes
        self.upstream = upstream
        self.upstreamTime = upstreamTime
        self.totalTime = totalTime
    }

    /// The JSON line, newline included:
    /// `{"time":"2026-11-25T16:22:47.123Z","request_id":"…","client":"127.0.0.1","method":"GET",
    /// "path":"/api/movies/1","status":200,"bytes":187,"upstream":"127.0.0.1:8002",
    /// "upstream_time":0.001,"total_time":0.002}`.
    public func jsonLine() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: #"{"time":""#.utf8)
        AccessLogRecord.appendTimestamp(time, to: &out)
        out.append(contentsOf: #"","request_id":"#.utf8)
        JSONText.appendString(requestID, to: &out)
        out.append(contentsOf: #","client":"#.utf8)
        JSONText.appendString(client, to: &out)
        out.append(contentsOf: #","method":"#.utf8)
        JSONText.appendString(method, to: &out)
        out.append(contentsOf: #","path":"#.utf8)
        JSONText.appendString(path, to: &out)
        out.append(contentsOf: #","status":"#.utf8)
        out.append(contentsOf: String(status).utf8)
        out.append(contentsOf: #","bytes":"#.utf8)
        out.append(contentsOf: String(bytes).utf8)
        out.append(contentsOf: #","upstream":"#.utf8)
        if let upstream { JSONText.appendString(upstream, to: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(contentsOf: #","upstream_time":"#.utf8)
        if let upstreamTime { AccessLogRecord.appendSeconds(upstreamTime, to: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(contentsOf: #","total_time":"#.utf8)
        AccessLogRecord.appendSeconds(totalTime, to: &out)
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    /// Seconds with microsecond precision: `0.001234`.
    static func appendSeconds(_ seconds: Double, to out: inout [UInt8]) {
        let micros = Int((max(0, seconds) * 1e6).rounded())
        out.append(contentsOf: String(micros / 1_000_000).utf8)
        out.append(UInt8(ascii: "."))
        let fraction = String(micros % 1_000_000)
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 6 - fraction.utf8.count))
        out.append(contentsOf: fraction.utf8)
    }

    /// RFC 3339 UTC with milliseconds: `2026-11-25T16:22:47.123Z`.
    static func appendTimestamp(_ time: Double, to out: inout [UInt8]) {
        var seconds = time_t(time.rounded(.down))
        let millis = Int(((time - Double(seconds)) * 1000).rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) {
            out.append(UInt8(ascii: "0") + UInt8(value / 10 % 10))
            out.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        out.append(contentsOf: String(parts.tm_year + 1900).utf8)
        out.append(UInt8(ascii: "-"))
        two(parts.tm_mon + 1)
        out.append(UInt8(ascii: "-"))
        two(parts.tm_mday)
        out.append(UInt8(ascii: "T"))
        two(parts.tm_hour)
        out.append(UInt8(ascii: ":"))
        two(parts.tm_min)
        out.append(UInt8(ascii: ":"))
        two(parts.tm_sec)
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(millis / 100 % 10))
        out.append(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(millis % 10))
        out.append(UInt8(ascii: "Z"))
    }
}

/// Writes access-log lines to a file descriptor (stdout), one `write(2)` per line.
///
/// Why write(2) and no buffer: lines from several loop threads must not interleave, and
/// a single write of a line shorter than PIPE_BUF to a pipe is atomic; a buffered stream
/// would need a lock and could lose lines at a crash. A short or failed write (a full
/// pipe, a closed stdout) drops the rest of the line rather than block a loop.
public struct AccessLog: Sendable {
    public let fd: Int32
    public let isEnabled: Bool

    public init(fd: Int32 = 1, isEnabled: Bool) {
        self.fd = fd
        self.isEnabled = isEnabled
    }

    public func write(_ record: AccessLogRecord) {
        guard isEnabled else { return }
        let line = record.jsonLine()
        line.withUnsafeBytes { raw in
            // `raw` is valid for this synchronous call only; write(2) copies it.
            _ = Glibc.write(fd, raw.baseAddress, raw.count)
        }
    }

    /// Wall-clock seconds since the epoch, for ``AccessLogRecord/time``.
    public static func wallClock() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
