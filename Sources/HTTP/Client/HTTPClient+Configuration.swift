import Reactor

extension HTTPClient {
    /// Limits and timeouts of a client; the defaults suit service-to-service calls on a LAN.
    public struct Configuration: Sendable {
        /// Time to establish a connection (and the transport's handshake). Default 1 s.
        public var connectTimeout: Duration = .seconds(1)
        /// Time from the end of writing a request to its complete response head. Default 5 s.
        public var responseTimeout: Duration = .seconds(5)
        /// Longest stall while writing a request or reading a response body. Default 30 s.
        public var ioTimeout: Duration = .seconds(30)
        /// How long a pooled connection may sit unused before it is closed. Default 30 s
        /// (below the usual server keep-alive timeouts, so that we close first).
        public var idleTimeout: Duration = .seconds(30)
        /// Connections per origin on each loop. Default 64.
        public var maxConnectionsPerOrigin: Int = 64
        /// Callers that may wait for a connection per origin on each loop; more fail at
        /// once with `.poolQueueFull`. Default 4096.
        public var maxWaitersPerOrigin: Int = 4096
        /// How long a caller waits for a connection before `.poolTimeout`. Default 5 s.
        public var poolWaitTimeout: Duration = .seconds(5)
        /// Response parser limits. The body limit defaults to none: streaming callers read
        /// bodies of any size, and collecting calls apply ``maxResponseBodySize``.
        public var responseLimits: HTTPParserLimits = HTTPParserLimits(maxBodySize: nil)
        /// Largest body ``HTTPClient/execute(_:timeout:)`` collects. Default 16 MiB.
        public var maxResponseBodySize: Int = 16 << 20
        /// Read buffer per connection (at least a maximal head): the most body bytes held
        /// per connection at a time. Default 64 KiB.
        public var readBufferSize: Int = 64 << 10
        /// Turns a connected socket into the stream to speak HTTP over, for `https`
        /// origins (TLS lives in another module: HTTP cannot import it, so it comes in
        /// as a closure). Called on the socket's loop with the origin's host (for SNI and
        /// verification). Without it `https` origins fail with `.unsupportedScheme`.
        public var makeTransport: (@Sendable (TCPSocket, String) async throws -> any ByteStream)?
        /// Turns a host name and port into addresses to connect to. Called on a thread of its
        /// own (the clients' lookup pool), so it may block (DNS); the pool waits for it until the connect's
        /// deadline. Numeric hosts and `localhost` never reach it. Default: `getaddrinfo`
        /// (``SocketAddress/resolveBlocking(host:port:)``). A pool keeps the answer per origin
        /// and asks again when a connect to it fails.
        public var resolve: @Sendable (_ host: String, _ port: Int) throws -> [SocketAddress] = {
            try SocketAddress.resolveBlocking(host: $0, port: $1)
        }

        public init() {}
    }
}
