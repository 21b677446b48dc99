import Reactor

/// Redis for a whole process: one ``RedisConnection`` per event loop, each call routed to the
/// connection of the loop it runs on, so that a request and its Redis call never change thread.
///
/// Called off the loops (tests, scripts), a call goes to the loops' connections in turn.
/// May be used from any thread.
public final class RedisClient: RedisCommandSender {
    public let configuration: RedisConfiguration
    /// One per loop of the group, at the loop's index.
    public let connections: [RedisConnection]

    /// Creates the connections and starts connecting; commands sent before the first
    /// connection is up wait for it (up to the command timeout). Any thread.
    public init(configuration: RedisConfiguration, group: EventLoopGroup) {
        self.configuration = configuration
        connections = group.loops.map { RedisConnection(configuration: configuration, on: $0) }
        for connection in connections { connection.start() }
    }

    /// The connection of the calling loop, else the next one in turn (stable per thread is not needed).
    public func connection() -> RedisConnection {
        if let loop = EventLoop.current, loop.index < connections.count, connections[loop.index].loop === loop {
            return connections[loop.index]
        }
        return connections[Int.random(in: 0..<connections.count)]
    }

    /// True when every loop's connection is up (the health check's `"cache"`).
    public var isConnected: Bool { connections.allSatisfy(\.isConnected) }

    /// Waits until every connection is up. - Returns: false when `timeout` passed first.
    public func waitUntilConnected(timeout: Duration) async -> Bool {
        for connection in connections {
            guard await connection.waitUntilConnected(timeout: timeout) else { return false }
        }
        return true
    }

    public func send(_ command: [[UInt8]]) async throws -> RedisValue {
        try await connection().send(command)
    }

    public func send(_ command: RedisCommand) async throws -> RedisReply {
        try await connection().send(command)
    }

    public func pipeline(_ commands: [[[UInt8]]]) async -> [Result<RedisValue, RedisError>] {
        await connection().pipeline(commands)
    }

    /// Closes every connection; pending commands fail with `connectionClosed`. Any thread.
    public func close() {
        for connection in connections { connection.close() }
    }

    /// A connection keeps itself alive while it has a context or a reconnect timer, so a
    /// client that is simply dropped closes its connections here.
    deinit {
        close()
    }
}
