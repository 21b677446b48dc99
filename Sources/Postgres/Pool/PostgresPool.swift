import Reactor

/// The connections of one event loop: a pool that shares each connection's round trips
/// between many callers (pipeline mode), hands whole connections to transactions, queues
/// callers in a bounded wait queue, and heals by itself after the server goes away.
///
/// Loop-bound: its state is touched only on `loop`'s thread (methods ending in `0`); the
/// public methods may be called from anywhere and hop onto the loop when they are not on
/// it (a request handled on the loop pays no hop at all). Use one pool per loop, or a
/// ``PostgresClient``, which keeps one per loop of a group.
///
/// How capacity works:
/// - a query goes to the ready connection with the fewest requests in flight, as long as
///   that number is below `maxPipelineDepth`; when every connection is busy and the pool is
///   below `maxConnections`, it opens another one;
/// - otherwise the caller waits, FIFO, in a queue of at most `maxWaiters`: a full queue fails
///   at once with `.poolExhausted`, a wait longer than `waitTimeout` with `.poolTimeout`;
/// - a transaction leases a connection with nothing in flight; if none is free the pool
///   stops giving new queries to one connection until it drains.
///
/// Deadlines: every query has one, ``PostgresConfiguration/queryTimeout`` after it reaches
/// the pool (a transaction's statements each get theirs when sent). A caller waiting for
/// capacity waits at most until then (`.poolTimeout`); a query in flight past it is answered
/// with `.queryTimeout` and cancelled on the server (see ``PostgresConnection``), and its
/// connection gets no new work until the server has answered it.
///
/// Healing: a connection that breaks fails its requests with `.connectionClosed` and leaves
/// the pool. When a connect attempt fails and no connection is left, the pool is "down":
/// every waiter and every new request fails at once with `.connectionFailed` (nothing queues
/// behind a dead server) while it retries in the background with a growing delay (20 ms up
/// to 100 ms: a refused connect costs microseconds, and a server that comes back is used
/// within 100 ms); the first success ends the outage and the pool refills to `minConnections`.
public final class PostgresPool: @unchecked Sendable {
    public let loop: EventLoop
    public let configuration: PostgresConfiguration
    public let minConnections: Int
    public let maxConnections: Int
    public let maxWaiters: Int
    public let waitTimeout: Duration
    public let maxPipelineDepth: Int
    /// ``PostgresConfiguration/queryTimeout`` in nanoseconds.
    private let queryTimeoutNanoseconds: UInt64

    private enum WaiterKind {
        case request(PreparedRequest, deadline: UInt64, PostgresConnection.Continuation)
        case lease(UnsafeContinuation<PostgresConnection, any Error>)
    }

    private struct Waiter {
        let id: Int
        let kind: WaiterKind
        var timer: TimerHandle?
    }

    // MARK: Loop-only state.
    private var connections: [PostgresConnection] = []
    private var connectingCount = 0
    private var waiters = RingBuffer<Waiter>(initialCapacity: 64)
    private var nextWaiterID = 0
    /// How many of the waiters are transactions (connections stay reserved while any wait).
    private var leaseWaiterCount = 0
    /// Set while the server is unreachable (the last connect failed and nothing is ready).
    private var outage: PostgresError?
    private var reconnectTimer: TimerHandle?
    private var reconnectDelay = PostgresPool.firstReconnectDelay
    private var isShutDown = false

    static let firstReconnectDelay = Duration.milliseconds(20)
    static let maxReconnectDelay = Duration.milliseconds(100)

    /// - Parameters:
    ///   - configuration: where to connect; `statementTimeout` here overrides its own.
    ///   - loop: the loop that owns the pool and its connections.
    ///   - minConnections: opened at once and kept open (0 opens connections on demand).
    ///   - maxConnections: the most connections this pool opens.
    ///   - maxWaiters: how many callers may wait for capacity before `.poolExhausted`.
    ///   - waitTimeout: how long a caller may wait before `.poolTimeout`.
    ///   - statementTimeout: the server cancels longer statements (`.queryCanceled`).
    ///   - queryTimeout: each query's client-side deadline (`.queryTimeout`).
    ///   - maxPipelineDepth: requests in flight per connection before callers wait.
    public init(
        configuration: PostgresConfiguration, loop: EventLoop, minConnections: Int = 1, maxConnections: Int = 4,
        maxWaiters: Int = 1024, waitTimeout: Duration = .seconds(5), statementTimeout: Duration? = nil,
        queryTimeout: Duration? = nil, maxPipelineDepth: Int = 128
    ) {
        precondition(minConnections >= 0 && maxConnections >= 1 && minConnections <= maxConnections)
        precondition(maxWaiters >= 0 && maxPipelineDepth >= 1)
        var configuration = configuration
        if let statementTimeout { configuration.statementTimeout = statementTimeout }
        if let queryTimeout { configuration.queryTimeout = queryTimeout }
        precondition(configuration.queryTimeout > .zero, "a query needs a deadline")
        queryTimeoutNanoseconds = UInt64(configuration.queryTimeout.nanoseconds)
        self.configuration = configuration
        self.loop = loop
        self.minConnections = minConnections
        self.maxConnections = maxConnections
        self.maxWaiters = maxWaiters
        self.waitTimeout = waitTimeout
        self.maxPipelineDepth = maxPipelineDepth
        loop.execute { self.fillToMinimum0() }
    }

    // MARK: Public API (any thread)

    /// Runs one parameterized statement and returns its rows.
    /// - Throws: ``PostgresError`` (server errors by SQLSTATE, pool and connection errors).
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> PostgresRows {
        try await execute([PostgresStatement(sql, parameters)])[0].get()
    }

    /// Sends several statements in one round trip (pipeline mode) and returns each one's
    /// result; a failing statement does not stop the others (each is its own transaction
    /// unless they are inside a transaction).
    /// - Throws: only for errors that hit the whole request (pool, connection).
    public func pipeline(_ statements: [PostgresStatement]) async throws -> [PostgresStatementResult] {
        try await execute(statements)
    }

    /// Runs `body` in a transaction on a connection held for its duration: `BEGIN`, then
    /// `COMMIT` when `body` returns, `ROLLBACK` when it throws (the error is rethrown).
    ///
    /// Each statement has the query timeout, or `queryTimeout` when given (migrations, which
    /// may wait for another instance's). After a statement passed its deadline the connection
    /// is closed instead of rolled back: the server rolls back a transaction whose connection
    /// went away, and the caller does not wait another timeout for a `ROLLBACK`.
    public func withTransaction<T>(
        queryTimeout: Duration? = nil, _ body: @Sendable @concurrent (PostgresTransaction) async throws -> T
    ) async throws -> T {
        let connection = try await lease()
        let transaction = PostgresTransaction(
            connection: connection, queryTimeout: queryTimeout ?? configuration.queryTimeout)
        do {
            _ = try await transaction.query("BEGIN")
            let value = try await body(transaction)
            _ = try await transaction.query("COMMIT")
            release(connection)
            return value
        } catch {
            if let error = error as? PostgresError, error.code == .queryTimeout {
                discard(connection)
            } else {
                _ = try? await transaction.query("ROLLBACK")
                release(connection)
            }
            throw error
        }
    }

    /// Fails waiters, closes every connection (their requests fail) and stops reconnecting.
    public func shutdown() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            loop.executeNowOrSoon { [self] in
                shutdown0()
                continuation.resume()
            }
        }
    }

    /// Counts for tests and metrics, read on the loop.
    public struct Statistics: Sendable, Hashable {
        public var ready: Int
        public var connecting: Int
        public var waiting: Int
        public var isDown: Bool
    }

    public func statistics() async -> Statistics {
        await withUnsafeContinuation { continuation in
            loop.executeNowOrSoon { [self] in
                continuation.resume(
                    returning: Statistics(
                        ready: connections.count, connecting: connectingCount, waiting: waiters.count,
                        isDown: outage != nil))
            }
        }
    }

    // MARK: Internals shared with transactions

    func execute(_ statements: [PostgresStatement]) async throws -> [PostgresStatementResult] {
        let request = try PreparedRequest(statements)
        return try await withUnsafeThrowingContinuation { continuation in
            loop.executeNowOrSoon { [self] in submit0(request, deadline: loop.now &+ queryTimeoutNanoseconds, continuation) }
        }
    }

    func lease() async throws -> PostgresConnection {
        try await withUnsafeThrowingContinuation { continuation in
            loop.executeNowOrSoon { [self] in lease0(continuation) }
        }
    }

    func release(_ connection: PostgresConnection) {
        loop.executeNowOrSoon { [self] in
            connection.isLeased = false
            serveWaiters0()
        }
    }

    /// Closes a leased connection whose transaction cannot be ended by a statement.
    func discard(_ connection: PostgresConnection) {
        loop.executeNowOrSoon { [self] in
            connection.isLeased = false
            connection.close0()
            serveWaiters0()
        }
    }

    // MARK: Loop-only

    private func submit0(
        _ request: PreparedRequest, deadline: UInt64, _ continuation: PostgresConnection.Continuation
    ) {
        if waiters.isEmpty, let connection = pickConnection0() {
            connection.submit0(request, deadline: deadline, continuation)
            return
        }
        if let error = refusal0() {
            continuation.resume(throwing: error)
            return
        }
        wait0(.request(request, deadline: deadline, continuation))
    }

    private func lease0(_ continuation: UnsafeContinuation<PostgresConnection, any Error>) {
        if waiters.isEmpty, let connection = idleConnection0() {
            connection.isLeased = true
            continuation.resume(returning: connection)
            return
        }
        if let error = refusal0() {
            continuation.resume(throwing: error)
            return
        }
        wait0(.lease(continuation))
    }

    /// Why a request that found no capacity must fail now rather than wait, if it must.
    private func refusal0() -> PostgresError? {
        if isShutDown { return PostgresError(.shutdown, message: "the pool is shut down") }
        if let outage, connections.isEmpty {
            return PostgresError(.connectionFailed, message: "database unavailable: \(outage.message)")
        }
        return nil
    }

    private func wait0(_ kind: WaiterKind) {
        if connections.count + connectingCount < maxConnections, outage == nil { startConnect0() }
        guard waiters.count < maxWaiters else {
            if case .lease(let continuation) = kind {
                continuation.resume(throwing: PostgresError(.poolExhausted, message: "too many queries waiting for a database connection (\(maxWaiters))"))
                return
            }
            fail(kind, PostgresError(.poolExhausted, message: "too many queries waiting for a database connection (\(maxWaiters))"))
            return
        }
        let id = nextWaiterID
        nextWaiterID += 1
        // A query waits no longer than its deadline (a lease, for a transaction's first statement's).
        let timer = loop.schedule0(after: min(waitTimeout, configuration.queryTimeout)) { [weak self] in
            self?.waitTimedOut0(id)
        }
        if case .lease = kind { leaseWaiterCount += 1 }
        waiters.append(Waiter(id: id, kind: kind, timer: timer))
    }

    private func waitTimedOut0(_ id: Int) {
        for waiter in waiters.removeAll(where: { $0.id == id }) {
            fail(
                waiter.kind,
                PostgresError(.poolTimeout, message: "waited \(min(waitTimeout, configuration.queryTimeout)) for a database connection"))
        }
        releaseReservations0()
    }

    /// Fails a waiter that has left the queue.
    private func fail(_ kind: WaiterKind, _ error: PostgresError) {
        switch kind {
        case .request(_, _, let continuation):
            continuation.resume(throwing: error)
        case .lease(let continuation):
            leaseWaiterCount -= 1
            continuation.resume(throwing: error)
        }
    }

    /// The ready connection with the least in flight, below the depth limit, not held by or
    /// kept for a transaction, not stalled. Opens another connection when every one is busy.
    private func pickConnection0() -> PostgresConnection? {
        var best: PostgresConnection?
        for connection in connections where !connection.isLeased && !connection.isReserved && !connection.isStalled {
            if best == nil || connection.inFlightCount < best!.inFlightCount { best = connection }
        }
        let busy = best.map { $0.inFlightCount > 0 } ?? true
        if busy, connections.count + connectingCount < maxConnections, outage == nil, !isShutDown {
            startConnect0()
        }
        guard let best, best.inFlightCount < maxPipelineDepth else { return nil }
        return best
    }

    private func idleConnection0() -> PostgresConnection? {
        connections.first { !$0.isLeased && $0.inFlightCount == 0 && !$0.isStalled && $0.isReserved }
            ?? connections.first { !$0.isLeased && $0.inFlightCount == 0 && !$0.isStalled && !$0.isReserved }
    }

    /// Hands capacity to waiters, oldest first, until the oldest cannot be served.
    private func serveWaiters0() {
        while let waiter = waiters.first {
            switch waiter.kind {
            case .request(let request, let deadline, let continuation):
                guard let connection = pickConnection0() else { return }
                _ = waiters.popFirst()
                waiter.timer?.cancel()
                connection.submit0(request, deadline: deadline, continuation)
            case .lease(let continuation):
                guard let connection = idleConnection0() else {
                    // Keep the least busy connection free of new queries until it drains.
                    if !connections.contains(where: { $0.isReserved }),
                        let candidate = connections.filter({ !$0.isLeased && !$0.isStalled })
                            .min(by: { $0.inFlightCount < $1.inFlightCount })
                    {
                        candidate.isReserved = true
                    }
                    return
                }
                _ = waiters.popFirst()
                waiter.timer?.cancel()
                leaseWaiterCount -= 1
                connection.isReserved = false
                connection.isLeased = true
                continuation.resume(returning: connection)
            }
        }
        releaseReservations0()
    }

    /// Drops reservations once no transaction waits any more.
    private func releaseReservations0() {
        if leaseWaiterCount == 0 {
            for connection in connections where connection.isReserved { connection.isReserved = false }
        }
    }

    private func startConnect0() {
        connectingCount += 1
        let host = configuration.host
        let port = configuration.port
        // A numeric host or a socket directory needs no lookup; a name does, and getaddrinfo
        // blocks (DNS), so it is resolved on the blocking pool, never on this loop (libpq
        // would otherwise resolve it inside PQconnectStartParams, on the loop).
        if host.hasPrefix("/") || SocketAddress(numericHost: host, port: port) != nil {
            openConnection0(hostAddress: nil)
            return
        }
        BlockingPool.shared.submit { [self] in
            let address = try? SocketAddress.resolveBlocking(host: host, port: port).first
            loop.execute { [self] in
                guard let address else {
                    connectFinished0(.failure(PostgresError(.connectionFailed, message: "cannot resolve host \(host)")))
                    return
                }
                openConnection0(hostAddress: address.host)
            }
        }
    }

    private func openConnection0(hostAddress: String?) {
        let connection = PostgresConnection(loop: loop)
        connection.connect0(configuration, hostAddress: hostAddress) { [weak self] result in
            guard let self else {
                connection.close0()
                return
            }
            self.connectFinished0(result.map { connection })
        }
    }

    private func connectFinished0(_ result: Result<PostgresConnection, PostgresError>) {
        connectingCount -= 1
        switch result {
        case .success(let connection):
            if isShutDown {
                connection.close0()
                return
            }
            outage = nil
            reconnectDelay = Self.firstReconnectDelay
            connection.onClose = { [weak self] closed in self?.connectionClosed0(closed) }
            connection.onRequestCompleted = { [weak self] _ in
                guard let self, !self.waiters.isEmpty else { return }
                self.serveWaiters0()
            }
            connections.append(connection)
            fillToMinimum0()
            serveWaiters0()
        case .failure(let error):
            guard !isShutDown else { return }
            if connections.isEmpty {
                // The server is unreachable: fail fast instead of queueing behind it.
                outage = error
                failAllWaiters0(PostgresError(.connectionFailed, message: "database unavailable: \(error.message)"))
            }
            scheduleReconnect0()
        }
    }

    private func connectionClosed0(_ connection: PostgresConnection) {
        connections.removeAll { $0 === connection }
        guard !isShutDown else { return }
        fillToMinimum0()
        if !waiters.isEmpty, connections.count + connectingCount < maxConnections, outage == nil { startConnect0() }
    }

    private func fillToMinimum0() {
        guard !isShutDown, outage == nil else { return }
        while connections.count + connectingCount < minConnections { startConnect0() }
    }

    private func scheduleReconnect0() {
        guard reconnectTimer == nil, !isShutDown else { return }
        let delay = reconnectDelay
        reconnectDelay = min(reconnectDelay * 2, Self.maxReconnectDelay)
        reconnectTimer = loop.schedule0(after: delay) { [weak self] in
            guard let self else { return }
            self.reconnectTimer = nil
            guard !self.isShutDown, self.connectingCount == 0 else { return }
            // One probe while down; the pool refills to its minimum once it succeeds.
            if self.outage != nil || self.connections.count < self.minConnections { self.startConnect0() }
        }
    }

    private func failAllWaiters0(_ error: PostgresError) {
        while let waiter = waiters.popFirst() {
            waiter.timer?.cancel()
            fail(waiter.kind, error)
        }
    }

    private func shutdown0() {
        isShutDown = true
        reconnectTimer?.cancel()
        reconnectTimer = nil
        failAllWaiters0(PostgresError(.shutdown, message: "the pool is shut down"))
        let open = connections
        connections = []
        for connection in open { connection.close0() }
    }
}
