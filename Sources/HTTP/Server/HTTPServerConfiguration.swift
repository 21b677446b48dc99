import Logging

/// How an ``HTTPServer`` listens and what it tolerates.
public struct HTTPServerConfiguration: Sendable {
    public var host: String
    /// 0 asks the kernel for a free port (tests); ``HTTPServer/localPort`` tells which.
    public var port: Int
    public var parserLimits = HTTPParserLimits()
    /// Time allowed to receive a whole request head once its first byte arrived (slowloris).
    public var headerReadTimeout: Duration = .seconds(10)
    /// How long a keep-alive connection may wait for its next request.
    public var idleTimeout: Duration = .seconds(60)
    /// How long a plain-TCP keep-alive connection waits for its next request in a task of its
    /// own before it parks: the task ends, the socket alone is watched, and a new task starts
    /// when bytes arrive (nginx keeps an idle connection as a small structure, not a stack).
    /// A connection kept busy never parks; one idle for longer costs a new task when it wakes
    /// and far less memory while it sleeps. nil: never park.
    public var parkingDelay: Duration? = .milliseconds(100)
    /// At most this many keep-alive connections per loop wait for their next request in a task
    /// of their own (see ``parkingDelay``): one more that would begin to wait parks at once
    /// instead. Bounds the memory that a burst of connections takes before
    /// the delay passes (the heap keeps its high-water mark); past it, a connection that sleeps
    /// between its requests pays a new task for each. A new connection holds no task before its
    /// first bytes arrive, whatever this says.
    public var maxIdleTasksPerLoop = 128
    /// Time allowed between pieces of a request body.
    public var bodyReadTimeout: Duration = .seconds(30)
    /// Time allowed for the client to take each part of a response.
    public var writeTimeout: Duration = .seconds(30)
    /// Connections beyond this many (over all loops) are closed at once after accept.
    public var maxConnections = 10_000
    /// How long a graceful shutdown waits for in-flight requests before closing anyway.
    public var drainTimeout: Duration = .seconds(10)
    /// After an answer that leaves part of the request unread (an error, `Connection: close`
    /// before the whole body), how long the server keeps reading and discarding what the
    /// client still sends before it closes (a lingering close, as nginx's `lingering_time`).
    public var lingeringTimeout: Duration = .seconds(2)
    /// Where the server reports what it cannot tell a client: a handler that failed, a
    /// streamed body that did not match its `Content-Length`. Default: the process's
    /// bootstrapped handler, labelled `marquee.http`.
    public var logger = Logger(label: "marquee.http")
    /// Words the answers the server gives by itself (a malformed request, a timeout, a failed
    /// handler, the router's 404): plain text unless the product supplies its own format.
    public var errorRenderer: any HTTPErrorRenderer = PlainTextErrorRenderer()
    /// The `Server` header, or nil for none.
    public var serverName: String? = "marquee"
    /// Fields written on every response of this server, after `Server` and made once
    /// (the gateway's `X-Content-Type-Options: nosniff`); a handler must not set them too.
    public var fixedFields = HTTPHeaders()
    /// Whether a handler's task is cancelled when its client goes away while it runs, and
    /// its answer dropped (nginx's `proxy_ignore_client_abort off`): over HTTP/1.1 when the
    /// client's end of stream arrives, over HTTP/2 when the stream is reset or the connection
    /// ends. Work for nobody (a password hash waiting for a thread, a pool wait) then stops.
    /// Off by default: HTTP/1.1 cannot tell a client that closed from one that half-closed
    /// after its request (`printf ... | nc -q`) and still reads; on, such a client gets no
    /// answer from a handler that waits. The services turn it on.
    public var cancelsAbandonedRequests = false
    /// HTTP/2's limits, or nil to serve HTTP/1.1 only. When set, a connection speaks HTTP/2
    /// if TLS's ALPN chose `h2` or a plain one opens with the HTTP/2 preface (h2c).
    public var http2: HTTP2ServerConfiguration? = nil

    public init(host: String = "127.0.0.1", port: Int) {
        self.host = host
        self.port = port
    }
}

extension HTTPServerConfiguration {
    /// The answer to an error a handler threw, over HTTP/1.1 and HTTP/2 alike: an
    /// ``HTTPServerError`` worded by ``errorRenderer``, an ``HTTPResponseError``'s own response,
    /// and for anything else a 500 (``HTTPServerError/Reason/handlerFailed``, never the error's
    /// text) while ``logger`` gets the reason.
    /// - Parameters:
    ///   - method: the request's, for the log line.
    ///   - protocol: `HTTP/1.1` or `HTTP/2`, for the log line.
    func response(toHandlerError error: any Error, method: HTTPMethod, protocol: String) -> HTTPServerResponse {
        switch error {
        case let error as HTTPServerError:
            return errorRenderer.response(for: error)
        case let error as any HTTPResponseError:
            return error.response
        default:
            logger.error(
                "handler failed", error: error,
                metadata: ["method": .string(method.rawValue), "protocol": .string(`protocol`)])
            return errorRenderer.response(for: .handlerFailed)
        }
    }
}
