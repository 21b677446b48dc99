import Reactor

/// PostgreSQL for a whole process: one ``PostgresPool`` per loop of an ``EventLoopGroup``.
/// A call goes to the pool of the loop it runs on (`EventLoop.current`), so a request
/// handled on a loop never changes thread for its queries; calls from elsewhere are spread
/// round-robin.
///
/// ```swift
/// let client = PostgresClient(configuration: try PostgresConfiguration(url: url), group: group)
/// let rows = try await client.query("SELECT id, title FROM movies WHERE id = $1", [.int(id)])
/// let title = try rows[0]["title", as: String.self]
/// ```
public final class PostgresClient: Sendable {
    public let group: EventLoopGroup
    public let pools: [PostgresPool]

    /// The limits are per loop (see ``PostgresPool/init(configuration:loop:minConnections:maxConnections:maxWaiters:waitTimeout:statementTimeout:queryTimeout:maxPipelineDepth:)``).
    public init(
        configuration: PostgresConfiguration, group: EventLoopGroup, minConnections: Int = 1, maxConnections: Int = 4,
        maxWaiters: Int = 1024, waitTimeout: Duration = .seconds(5), statementTimeout: Duration? = nil,
        queryTimeout: Duration? = nil, maxPipelineDepth: Int = 128
    ) {
        self.group = group
        pools = group.loops.map { loop in
            PostgresPool(
                configuration: configuration, loop: loop, minConnections: minConnections, maxConnections: maxConnections,
                maxWaiters: maxWaiters, waitTimeout: waitTimeout, statementTimeout: statementTimeout,
                queryTimeout: queryTimeout, maxPipelineDepth: maxPipelineDepth)
        }
    }

    /// The calling loop's pool, or the next one round-robin off the loops.
    public var pool: PostgresPool {
        if let current = EventLoop.current, current.index < pools.count, pools[current.index].loop === current {
            return pools[current.index]
        }
        return pools[group.next().index % pools.count]
    }

    /// See ``PostgresPool/query(_:_:)``.
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> PostgresRows {
        try await pool.query(sql, parameters)
    }

    /// See ``PostgresPool/pipeline(_:)``.
    public func pipeline(_ statements: [PostgresStatement]) async throws -> [PostgresStatementResult] {
        try await pool.pipeline(statements)
    }

    /// See ``PostgresPool/withTransaction(queryTimeout:_:)``.
    public func withTransaction<T>(
        queryTimeout: Duration? = nil, _ body: @Sendable @concurrent (PostgresTransaction) async throws -> T
    ) async throws -> T {
        try await pool.withTransaction(queryTimeout: queryTimeout, body)
    }

    /// Shuts every pool down.
    public func shutdown() async {
        for pool in pools { await pool.shutdown() }
    }
}
