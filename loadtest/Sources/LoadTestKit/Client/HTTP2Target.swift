import HTTP
import Reactor
import Synchronization

/// ``LoadTarget`` over HTTP/2: each loop opens one connection and its virtual users are
/// streams on it, so a run measures one multiplexed connection per loop (`--loops 1`: one
/// connection in all), the way browsers and h2load's `-m` talk to a gateway. h2c with prior
/// knowledge for `http://` URLs; `https://` needs a transport whose ALPN offers `h2`
/// (``Transports/tlsForHTTP2(verify:caFile:)``).
public struct HTTP2Target: LoadTarget {
    public let url: TargetURL
    public let transport: TransportFactory
    /// How long a connect, and then a whole response, may take before it counts as a timeout.
    public let timeout: Duration
    /// Header fields sent with every request (authorization, for instance).
    public let extraHeaders: HTTPHeaders
    private let registry = HTTP2ConnectionRegistry()

    public init(
        url: TargetURL, transport: @escaping TransportFactory, timeout: Duration = .seconds(5), extraHeaders: HTTPHeaders = [:]
    ) {
        self.url = url
        self.transport = transport
        self.timeout = timeout
        self.extraHeaders = extraHeaders
    }

    public func makeExecutor(on loop: EventLoop) -> any RequestExecutor {
        HTTP2StreamExecutor(connection: registry.connection(on: loop) { HTTP2LoadConnection(target: self, loop: loop) })
    }
}

/// The connection of each loop. Lock rule: held only to look up or store one.
final class HTTP2ConnectionRegistry: Sendable {
    private let connections = Mutex<[ObjectIdentifier: HTTP2LoadConnection]>([:])

    func connection(on loop: EventLoop, make: () -> HTTP2LoadConnection) -> HTTP2LoadConnection {
        connections.withLock { connections in
            if let existing = connections[ObjectIdentifier(loop)] { return existing }
            let made = make()
            connections[ObjectIdentifier(loop)] = made
            return made
        }
    }
}

/// One virtual user: a stream at a time on its loop's shared connection.
final class HTTP2StreamExecutor: RequestExecutor {
    private let connection: HTTP2LoadConnection
    private var closed = false

    init(connection: HTTP2LoadConnection) {
        self.connection = connection
        connection.users += 1
    }

    func send(_ request: LoadRequest) async -> LoadResult {
        await connection.send(request)
    }

    func close() {
        guard !closed else { return }
        closed = true
        connection.users -= 1
        if connection.users == 0 { connection.close() }
    }
}
