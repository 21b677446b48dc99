import HTTP
import Logging
import Telemetry

/// One request as the access log records it, written by ``JSONLogHandler`` as the line's
/// own fields:
/// `{"ts":"2026-11-25T16:22:47.123Z","level":"info","service":"gateway","msg":"request",
/// "request_id":"…","trace_id":"…","client":"127.0.0.1","method":"GET","path":"/api/movies/1",
/// "protocol":"HTTP/2.0","status":200,"bytes":187,"upstream":"127.0.0.1:8002",
/// "upstream_time":0.001000,"total_time":0.002000}`.
/// `ts` is when the line is written (the response is done); `protocol` is the version the
/// client spoke (`HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`, as nginx's `$server_protocol`), h2 and
/// h2c alike, whatever the upstream spoke.
///
/// A class: a metadata value holds it by reference, where a struct this size would be boxed.
public final class AccessLogRecord: JSONLogFields {
    public let requestID: GatewayRequestID
    /// The gateway's span of the request's trace (its trace id is logged).
    public let trace: TraceContext
    public let client: String
    public let method: HTTPMethod
    /// The path without its query (queries may carry personal data).
    public let path: Substring
    /// The HTTP version the client's request came in on.
    public let version: HTTPVersion
    public let status: Int
    /// Response body bytes sent to the client.
    public let bytes: Int
    /// The instance that answered (`127.0.0.1:8002`), or nil when the gateway answered.
    public let upstream: String?
    /// Seconds from sending upstream to its response head, or nil.
    public let upstreamTime: Double?
    /// Seconds from the request's head to the end of the response.
    public let totalTime: Double

    public init(
        requestID: GatewayRequestID, trace: TraceContext, client: String, method: HTTPMethod, path: Substring,
        version: HTTPVersion, status: Int, bytes: Int, upstream: String?, upstreamTime: Double?, totalTime: Double
    ) {
        self.requestID = requestID
        self.trace = trace
        self.client = client
        self.method = method
        self.path = path
        self.version = version
        self.status = status
        self.bytes = bytes
        self.upstream = upstream
        self.upstreamTime = upstreamTime
        self.totalTime = totalTime
        super.init()
    }

    public override func writeFields(into line: inout JSONLogLine) {
        requestID.withBytes { line.field("request_id", utf8: $0) }
        line.field("trace_id", traceID: trace)
        line.field("client", client)
        line.field("method", method.rawValue)
        line.field("path", path)
        line.field("protocol", version.description)
        line.field("status", status)
        line.field("bytes", bytes)
        line.field("upstream", upstream)
        line.field("upstream_time", micros: upstreamTime)
        line.field("total_time", micros: totalTime)
    }
}

/// The gateway's access log: one line per request, through the process's logger, at
/// `info` (`ACCESS_LOG=false` turns it off).
public struct AccessLog: Sendable {
    public let logger: Logger
    public let isEnabled: Bool

    public init(logger: Logger, isEnabled: Bool) {
        self.logger = logger
        self.isEnabled = isEnabled
    }

    public func write(_ record: @autoclosure () -> AccessLogRecord) {
        guard isEnabled else { return }
        logger.info("request", metadata: ["access": .stringConvertible(record())])
    }
}
