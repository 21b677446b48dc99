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
    /// Time allowed between pieces of a request body.
    public var bodyReadTimeout: Duration = .seconds(30)
    /// Time allowed for the client to take each part of a response.
    public var writeTimeout: Duration = .seconds(30)
    /// Connections beyond this many (over all loops) are closed at once after accept.
    public var maxConnections = 10_000
    /// How long a graceful shutdown waits for in-flight requests before closing anyway.
    public var drainTimeout: Duration = .seconds(10)
    /// The `Server` header, or nil for none.
    public var serverName: String? = "marquee"
    /// Fields written on every response of this server, after `Server` and made once
    /// (the gateway's `X-Content-Type-Options: nosniff`); a handler must not set them too.
    public var fixedFields = HTTPHeaders()

    public init(host: String = "127.0.0.1", port: Int) {
        self.host = host
        self.port = port
    }
}
