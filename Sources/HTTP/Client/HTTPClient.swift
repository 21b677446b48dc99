import Reactor

/// An HTTP/1.1 client with keep-alive connection pools, one per event loop.
///
/// A call runs on the caller's loop (``EventLoop/current``) with that loop's pool, so a
/// service handler's outgoing request never leaves its thread; from outside the loops
/// it hops to `group.next()`. Create one client per process and share it (it is
/// `Sendable`); call ``shutdown()`` before the group stops.
///
/// Two ways in:
/// - ``execute(_:timeout:)`` (and ``get(_:headers:timeout:)``, ``post(_:json:headers:timeout:)``):
///   the whole response in memory. A request that fails on a reused connection the server
///   had closed, before any response byte, is retried once on a fresh connection when its
///   method is idempotent (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) — never a POST.
/// - ``withConnection(to:timeout:_:)`` / ``connection(to:timeout:)``: a leased
///   ``HTTPClientConnection`` for streaming bodies both ways with backpressure (the
///   gateway). No automatic retry there: errors say whether a retry is safe.
///
/// A service calling two others concurrently, mapping failures as `HTTPClientError` says:
/// ```
/// async let user = client.get("http://users:8001/users/\(id)", timeout: .seconds(2))
/// async let movie = client.get("http://movies:8002/movies/\(movieID)", timeout: .seconds(2))
/// let (u, m) = try await (user, movie)   // .responseTimeout → 504, .connectFailed → 503
/// ```
/// A proxy streaming a download, one read buffer at a time:
/// ```
/// try await client.withConnection(to: upstream) { conn in
///     try conn.sendHead(forwardedHead)
///     while let piece = try await downstreamBody.next() { try await conn.sendBody(piece) }
///     try await conn.finishRequest()
///     let head = try await conn.readResponseHead()    // raw fields: the proxy filters them
///     try await downstream.write(encode(head))
///     var chunk: [UInt8] = []
///     while try await conn.readBodyChunk(appendingTo: &chunk) {
///         try await downstream.write(chunk[...])       // backpressure: one chunk in flight
///         chunk.removeAll(keepingCapacity: true)
///     }
/// }   // released to the pool when the exchange completed with keep-alive
/// ```
/// A failure before any request byte was written has `requestMayHaveBeenSent == false`
/// (safe to try another upstream, answer 502/503); after it, only an idempotent request
/// may be repeated, and a timeout waiting for the head is the proxy's 504.
///
/// Costs per request on a pooled connection: the head is serialized into the connection's
/// reused buffer and written with a small body in one `send`; the response is parsed from
/// the connection's read buffer (usually one `read`); the only allocations are the
/// response's head and body (and, for ``execute(_:timeout:)``, the wire copy of the
/// request head). ``HTTPClientConnection/sendEncodedRequest(_:method:keepAlive:)``
/// skips even the serialization, for load generators.
public final class HTTPClient: Sendable {
    public let group: EventLoopGroup
    public let configuration: Configuration
    /// One pool per loop, at the loop's index.
    private let pools: [HTTPConnectionPool]

    public init(group: EventLoopGroup, configuration: Configuration = Configuration()) {
        precondition(configuration.maxConnectionsPerOrigin > 0, "maxConnectionsPerOrigin must be positive")
        self.group = group
        self.configuration = configuration
        pools = group.loops.map { HTTPConnectionPool(loop: $0, configuration: configuration) }
    }

    /// A client dropped without ``shutdown()`` still closes its idle connections: they
    /// hold their pool, so nothing else would free them.
    deinit {
        for pool in pools {
            pool.loop.execute { pool.shutdown() }
        }
    }

    /// The pool of `loop` when it is one of this client's loops.
    private func pool(on loop: EventLoop) -> HTTPConnectionPool? {
        guard loop.index < pools.count else { return nil }
        let pool = pools[loop.index]
        return pool.loop === loop ? pool : nil
    }

    /// Runs `body` with the pool of the calling loop, or on the next loop when called
    /// from elsewhere.
    private func withPool<T>(
        _ body: @concurrent (HTTPConnectionPool) async throws(HTTPClientError) -> T
    ) async throws(HTTPClientError) -> T {
        if let current = EventLoop.current, let pool = pool(on: current) {
            return try await body(pool)
        }
        let loop = group.next()
        let pool = pools[loop.index]
        return try await withTaskExecutorPreference(loop) { @concurrent () async throws(HTTPClientError) -> T in
            try await body(pool)
        }
    }

    // MARK: Whole responses

    /// Sends `request` and returns its response with the body collected.
    ///
    /// - Parameter timeout: an overall limit for the call (pool wait, connect, response,
    ///   body) on top of the configured per-phase timeouts; nil for none.
    /// - Throws: ``HTTPClientError``; the body is limited to `maxResponseBodySize`.
    public func execute(_ request: HTTPClientRequest, timeout: Duration? = nil) async throws(HTTPClientError) -> HTTPClientResponse {
        let deadline = timeout.map { monotonicNanoseconds() &+ $0.nanoseconds }
        return try await withPool { pool async throws(HTTPClientError) -> HTTPClientResponse in
            try await self.execute(request, on: pool, deadline: deadline)
        }
    }

    /// `GET url`.
    public func get(_ url: String, headers: HTTPHeaders = [:], timeout: Duration? = nil) async throws(HTTPClientError) -> HTTPClientResponse {
        try await execute(HTTPClientRequest(method: .GET, url: url, headers: headers), timeout: timeout)
    }

    /// `POST url` with a JSON body (`Content-Type: application/json` unless given).
    public func post(
        _ url: String, json body: [UInt8], headers: HTTPHeaders = [:], timeout: Duration? = nil
    ) async throws(HTTPClientError) -> HTTPClientResponse {
        var headers = headers
        if !headers.contains(.contentType) { headers.add(.contentType, value: "application/json") }
        return try await execute(HTTPClientRequest(method: .POST, url: url, headers: headers, body: body), timeout: timeout)
    }

    private func execute(
        _ request: HTTPClientRequest, on pool: HTTPConnectionPool, deadline: UInt64?
    ) async throws(HTTPClientError) -> HTTPClientResponse {
        let head = request.wireHead
        var retried = false
        while true {
            let connection = try await pool.lease(request.origin, deadline: deadline, preferNew: retried)
            do {
                try await connection.sendRequest(head, body: request.body)
                let responseHead = try await connection.readResponseHead(deadline: deadline)
                if responseHead.status.code == 408 && connection.isReused && !retried {
                    // The server ended this pooled connection without reading the request
                    // (a drain, RFC 9110 §15.5.9): any method may be sent again, once.
                    connection.close()
                    connection.release()
                    retried = true
                    continue
                }
                let body = try await connection.collectBody(maxSize: configuration.maxResponseBodySize, deadline: deadline)
                connection.release()
                return HTTPClientResponse(head: responseHead, body: body)
            } catch {
                connection.close()
                connection.release()
                // A stale keep-alive connection: the server never saw (or never answered)
                // the request; replaying is safe only when the method is idempotent.
                if error.isStaleConnection && !retried && request.method.isIdempotent {
                    retried = true
                    continue
                }
                throw error
            }
        }
    }

    // MARK: Streaming

    /// Leases a connection to `origin` from the calling loop's pool. Loop-only: call it
    /// from a task on one of the client's loops; the connection belongs to that loop.
    /// Call ``HTTPClientConnection/release()`` when done.
    ///
    /// - Parameter timeout: limit for the pool wait and the connect (on top of their own).
    public func connection(to origin: HTTPOrigin, timeout: Duration? = nil) async throws(HTTPClientError) -> HTTPClientConnection {
        guard let current = EventLoop.current, let pool = pool(on: current) else {
            preconditionFailure("HTTPClient.connection(to:) called off the client's loops; use withConnection")
        }
        return try await pool.lease(origin, deadline: timeout.map { monotonicNanoseconds() &+ $0.nanoseconds })
    }

    /// Runs `body` with a leased connection to `origin`, then releases it (back to the pool
    /// when the exchange completed with keep-alive; closed when `body` threw or left the
    /// response unread). Works from any task: off the loops it hops to one.
    public func withConnection<T>(
        to origin: HTTPOrigin, timeout: Duration? = nil,
        _ body: @Sendable @concurrent (HTTPClientConnection) async throws -> T
    ) async throws -> T {
        let deadline = timeout.map { monotonicNanoseconds() &+ $0.nanoseconds }
        let connection = try await withPool { pool async throws(HTTPClientError) -> HTTPClientConnection in
            try await pool.lease(origin, deadline: deadline)
        }
        if connection.loop.inLoop {
            return try await Self.run(body, with: connection)
        }
        return try await withTaskExecutorPreference(connection.loop) { @concurrent in
            try await Self.run(body, with: connection)
        }
    }

    private static func run<T>(
        _ body: @Sendable @concurrent (HTTPClientConnection) async throws -> T, with connection: HTTPClientConnection
    ) async throws -> T {
        do {
            let result = try await body(connection)
            connection.release()
            return result
        } catch {
            connection.close()
            connection.release()
            throw error
        }
    }

    // MARK: Lifecycle

    /// Closes idle connections on every loop and fails waiting callers with `.shutdown`;
    /// connections still leased close when released. May be called from any task.
    public func shutdown() async {
        for pool in pools {
            await withTaskExecutorPreference(pool.loop) { @concurrent in
                pool.shutdown()
            }
        }
    }

    /// Open and idle connections to `origin` on `loop`'s pool, and callers waiting (tests
    /// and metrics). May be called from any task.
    public func poolCounts(for origin: HTTPOrigin, on loop: EventLoop) async -> (open: Int, idle: Int, waiting: Int) {
        guard let pool = pool(on: loop) else { return (0, 0, 0) }
        return await withTaskExecutorPreference(loop) { @concurrent in pool.counts(for: origin) }
    }
}
