import Reactor

/// One loop's keep-alive connections, per origin.
///
/// Why per loop and not shared: a connection is bound to the loop whose epoll watches it,
/// so a request on loop A can only use A's connections without two thread hops (DESIGN.md
/// lists what a hop to another loop costs); per-loop pools also need no lock. The price is
/// up to `loops × maxConnectionsPerOrigin` connections per origin in all.
///
/// Per origin: idle connections are a stack (the most recently used one first: it is the
/// least likely to have been closed by the server, and the others age out); at most
/// `maxConnectionsPerOrigin` are open (connecting, leased or idle); beyond that callers
/// wait in a FIFO queue of at most `maxWaitersPerOrigin`, each for `poolWaitTimeout`. A
/// released connection goes straight to the first waiter; a closed one hands its slot
/// over, and the waiter connects. Idle connections older than `idleTimeout` are closed by
/// one sweep timer per pool (not a timer per connection: releasing a connection must
/// not allocate).
///
/// Loop-bound (``LoopBound``): every method runs on ``loop``; `@unchecked Sendable` so that
/// the client can hold one per loop.
final class HTTPConnectionPool: LoopBound, @unchecked Sendable {
    let loop: EventLoop
    let configuration: HTTPClient.Configuration
    /// `configuration.idleTimeout` in nanoseconds, converted once (it is checked per lease).
    private let idleTimeoutNanoseconds: UInt64
    private var entries: [HTTPOrigin: OriginEntry] = [:]
    /// The entry of the last origin leased: a gateway loop leases from few origins, and
    /// comparing one origin costs less than hashing its host for the dictionary.
    private var lastEntry: OriginEntry?
    private var sweepTimer: TimerHandle?
    private var isShutdown = false

    /// The state of one origin in this pool. Loop-only.
    final class OriginEntry: @unchecked Sendable {
        let origin: HTTPOrigin
        var idle: [HTTPClientConnection] = []
        /// Connections connecting, leased or idle (each holds a slot).
        var open = 0
        var waiters = RingBuffer<Waiter>(initialCapacity: 16)
        /// Waiters still waiting; the queue may also hold finished ones (removed lazily).
        var activeWaiters = 0
        /// Resolved addresses, kept until a connect to them fails (then resolved again).
        var addresses: [SocketAddress]?

        init(origin: HTTPOrigin) { self.origin = origin }
    }

    /// A caller waiting for a connection or a slot. Loop-only.
    final class Waiter: @unchecked Sendable {
        var continuation: UnsafeContinuation<HTTPClientConnection?, any Error>?
        var timer: TimerHandle?
        var isActive = true
    }

    init(loop: EventLoop, configuration: HTTPClient.Configuration) {
        self.loop = loop
        self.configuration = configuration
        idleTimeoutNanoseconds = configuration.idleTimeout.nanoseconds
    }

    // MARK: Leasing

    /// A connection to `origin`: an idle one, a new one, or one released by another caller.
    ///
    /// - Parameters:
    ///   - deadline: monotonic ns after which the caller gives up (caps every wait).
    ///   - preferNew: open a new connection while the limit allows, even with idle ones
    ///     (the retry after a stale connection: the other idle ones may be stale too).
    @inline(__always)  // into HTTPClient.connection(to:): one async frame fewer per request
    func lease(
        _ origin: HTTPOrigin, deadline: UInt64?, preferNew: Bool = false
    ) async throws(HTTPClientError) -> HTTPClientConnection {
        assertOnLoop()
        if isShutdown { throw HTTPClientError(.shutdown, requestMayHaveBeenSent: false) }
        let entry: OriginEntry
        if let last = lastEntry, last.origin == origin {
            entry = last
        } else if let existing = entries[origin] {
            entry = existing
        } else {
            entry = OriginEntry(origin: origin)
            entries[origin] = entry
        }
        lastEntry = entry
        if !preferNew || entry.open >= configuration.maxConnectionsPerOrigin, let idle = takeIdle(entry) {
            idle.isLeased = true
            return idle
        }
        if entry.open < configuration.maxConnectionsPerOrigin {
            entry.open += 1
            return try await connect(entry, deadline: deadline)
        }
        guard entry.activeWaiters < configuration.maxWaitersPerOrigin else {
            throw HTTPClientError(.poolQueueFull, requestMayHaveBeenSent: false)
        }
        var waitDeadline = monotonicNanoseconds() &+ configuration.poolWaitTimeout.nanoseconds
        if let deadline, deadline < waitDeadline { waitDeadline = deadline }
        if let handed = try await wait(entry, until: waitDeadline) {
            handed.isLeased = true
            return handed
        }
        // A slot was handed over (its connection closed): connect in our own task.
        return try await connect(entry, deadline: deadline)
    }

    /// Pops the most recently used idle connection that is still fresh and open.
    private func takeIdle(_ entry: OriginEntry) -> HTTPClientConnection? {
        guard !entry.idle.isEmpty else { return nil }
        let now = loop.now
        let maxIdle = idleTimeoutNanoseconds
        while let connection = entry.idle.popLast() {
            // A connection whose server closed it while it sat here (its FIN has arrived)
            // would only fail the request that takes it: after an upstream restart a loop's
            // pool can hold more of those than a request has retries.
            if !connection.isClosed && !connection.transport.isPeerClosed && now &- connection.idleSince < maxIdle {
                return connection
            }
            discard(connection, entry)
            entry.open -= 1  // no waiters while connections are idle
        }
        return nil
    }

    /// Opens a connection for a slot already counted in `entry.open`.
    private func connect(_ entry: OriginEntry, deadline: UInt64?) async throws(HTTPClientError) -> HTTPClientConnection {
        let connection: HTTPClientConnection
        do {
            connection = try await makeConnection(entry, deadline: deadline)
        } catch {
            slotFreed(entry)
            throw error
        }
        if isShutdown {
            connection.close()
            slotFreed(entry)
            throw HTTPClientError(.shutdown, requestMayHaveBeenSent: false)
        }
        connection.pool = self
        connection.originEntry = entry
        connection.isLeased = true
        return connection
    }

    private func makeConnection(_ entry: OriginEntry, deadline: UInt64?) async throws(HTTPClientError) -> HTTPClientConnection {
        let origin = entry.origin
        if origin.isTLS && configuration.makeTransport == nil || origin.scheme != "http" && !origin.isTLS {
            throw HTTPClientError(.unsupportedScheme, requestMayHaveBeenSent: false)
        }
        var connectDeadline = attemptDeadline(deadline)
        let socket: TCPSocket
        if let cached = entry.addresses {
            do {
                socket = try await connectSocket(cached, until: connectDeadline)
            } catch where error.code == .connectFailed || error.code == .connectTimeout {
                // The name may have moved: a restarted container comes back on another
                // address, and the old one refuses or, more often, never answers. Ask again
                // and try the new addresses once; the same answer means the server is down.
                entry.addresses = nil
                connectDeadline = attemptDeadline(deadline)
                guard let fresh = try? await resolve(origin, until: connectDeadline), !fresh.isEmpty, fresh != cached
                else { throw error }
                socket = try await connectSocket(fresh, until: connectDeadline)
                entry.addresses = fresh
            }
        } else {
            let addresses = try await resolve(origin, until: connectDeadline)
            entry.addresses = addresses
            do {
                socket = try await connectSocket(addresses, until: connectDeadline)
            } catch {
                entry.addresses = nil
                throw error
            }
        }
        var transport: any ByteStream = socket
        // The hook wraps https origins only; plain http goes over the socket as it is.
        if origin.isTLS, let makeTransport = configuration.makeTransport {
            do {
                socket.readDeadline = connectDeadline
                socket.writeDeadline = connectDeadline
                transport = try await makeTransport(socket, origin.host)
                transport.readDeadline = nil
                transport.writeDeadline = nil
            } catch {
                socket.close()
                let timedOut = (error as? IOError)?.code == .timedOut
                throw HTTPClientError(
                    timedOut ? .connectTimeout : .connectFailed, requestMayHaveBeenSent: false, underlying: error)
            }
        }
        return HTTPClientConnection(origin: origin, transport: transport, configuration: configuration)
    }

    /// When a connect attempt starting now must be done: `connectTimeout` from now, or the
    /// caller's deadline when that comes first.
    private func attemptDeadline(_ deadline: UInt64?) -> UInt64 {
        let connectDeadline = monotonicNanoseconds() &+ configuration.connectTimeout.nanoseconds
        if let deadline, deadline < connectDeadline { return deadline }
        return connectDeadline
    }

    /// Connects to the first of `addresses` that accepts before `connectDeadline`: a refused
    /// address passes to the next; a timeout ends the attempt (the deadline is shared).
    private func connectSocket(
        _ addresses: [SocketAddress], until connectDeadline: UInt64
    ) async throws(HTTPClientError) -> TCPSocket {
        var lastError = HTTPClientError(.connectFailed, requestMayHaveBeenSent: false)
        for address in addresses {
            let now = monotonicNanoseconds()
            guard now < connectDeadline else {
                throw HTTPClientError(.connectTimeout, requestMayHaveBeenSent: false)
            }
            do {
                return try await TCPSocket.connect(
                    to: address, on: loop, timeout: .nanoseconds(Int64(connectDeadline - now)))
            } catch let error as IOError where error.code == .timedOut {
                throw HTTPClientError(.connectTimeout, requestMayHaveBeenSent: false, underlying: error)
            } catch let error as IOError where error.code == .cancelled {
                throw HTTPClientError(.cancelled, requestMayHaveBeenSent: false, underlying: error)
            } catch {
                lastError = HTTPClientError(.connectFailed, requestMayHaveBeenSent: false, underlying: error)
            }
        }
        throw lastError
    }

    // MARK: Waiting

    private func wait(_ entry: OriginEntry, until deadline: UInt64) async throws(HTTPClientError) -> HTTPClientConnection? {
        let waiter = Waiter()
        entry.waiters.append(waiter)
        entry.activeWaiters += 1
        do {
            return try await withTaskCancellationHandler {
                try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<HTTPClientConnection?, any Error>) in
                    if Task.isCancelled {
                        waiter.continuation = continuation
                        finish(waiter, entry, .failure(HTTPClientError(.cancelled, requestMayHaveBeenSent: false)))
                        return
                    }
                    waiter.continuation = continuation
                    let now = monotonicNanoseconds()
                    waiter.timer = loop.schedule0(
                        after: .nanoseconds(Int64(deadline > now ? deadline - now : 0)),
                        { [self] in
                            self.finish(waiter, entry, .failure(HTTPClientError(.poolTimeout, requestMayHaveBeenSent: false)))
                        },
                        loopStopped: { [self] in
                            self.finish(waiter, entry, .failure(HTTPClientError(.shutdown, requestMayHaveBeenSent: false)))
                        })
                }
            } onCancel: {
                loop.execute { [self] in
                    self.finish(waiter, entry, .failure(HTTPClientError(.cancelled, requestMayHaveBeenSent: false)))
                }
            }
        } catch let error as HTTPClientError {
            throw error
        } catch {
            preconditionFailure("pool waiter failed with \(error)")
        }
    }

    /// Ends a wait once: with a connection, a slot (nil) or an error.
    private func finish(_ waiter: Waiter, _ entry: OriginEntry, _ result: Result<HTTPClientConnection?, HTTPClientError>) {
        guard waiter.isActive, let continuation = waiter.continuation else { return }
        waiter.isActive = false
        waiter.continuation = nil
        waiter.timer?.cancel()
        waiter.timer = nil
        entry.activeWaiters -= 1
        switch result {
        case .success(let connection): continuation.resume(returning: connection)
        case .failure(let error): continuation.resume(throwing: error)
        }
    }

    private func nextWaiter(_ entry: OriginEntry) -> Waiter? {
        guard entry.activeWaiters > 0 else { return nil }
        while let waiter = entry.waiters.popFirst() {
            if waiter.isActive { return waiter }
        }
        return nil
    }

    // MARK: Returning

    /// Called by ``HTTPClientConnection/release()``.
    func connectionReleased(_ connection: HTTPClientConnection, reusable: Bool) {
        assertOnLoop()
        guard let entry = connection.originEntry else {
            connection.close()
            return
        }
        if reusable && !isShutdown {
            connection.idleSince = loop.now
            if let waiter = nextWaiter(entry) {
                finish(waiter, entry, .success(connection))
                return
            }
            entry.idle.append(connection)
            scheduleSweep()
        } else {
            discard(connection, entry)
            slotFreed(entry)
        }
    }

    /// A connection's slot is free: give it to the first waiter, or count it as closed.
    private func slotFreed(_ entry: OriginEntry) {
        if let waiter = nextWaiter(entry) {
            finish(waiter, entry, .success(nil))
        } else {
            entry.open -= 1
        }
    }

    private func discard(_ connection: HTTPClientConnection, _ entry: OriginEntry) {
        connection.close()
        connection.originEntry = nil
        connection.pool = nil
    }

    // MARK: Idle timeout

    private func scheduleSweep() {
        guard sweepTimer == nil else { return }
        // Half the idle timeout: a connection lives at most 1.5 × idleTimeout unused.
        let period = max(configuration.idleTimeout / 2, .milliseconds(10))
        // Holds the pool until it fires (not weak: see `HTTPClientConnection.pool`);
        // shutdown cancels it.
        sweepTimer = loop.schedule0(after: period) { self.sweep() }
    }

    private func sweep() {
        sweepTimer = nil
        let now = monotonicNanoseconds()
        let maxIdle = idleTimeoutNanoseconds
        var anyLeft = false
        for entry in entries.values where !entry.idle.isEmpty {
            entry.idle.removeAll { connection in
                guard connection.isClosed || now &- connection.idleSince >= maxIdle else { return false }
                discard(connection, entry)
                entry.open -= 1
                return true
            }
            anyLeft = anyLeft || !entry.idle.isEmpty
        }
        if anyLeft { scheduleSweep() }
    }

    // MARK: Inspection and shutdown

    /// Open connections (connecting, leased, idle) and idle ones, for `origin`. Loop-only.
    func counts(for origin: HTTPOrigin) -> (open: Int, idle: Int, waiting: Int) {
        assertOnLoop()
        guard let entry = entries[origin] else { return (0, 0, 0) }
        return (entry.open, entry.idle.count, entry.activeWaiters)
    }

    /// Closes idle connections and fails waiters; leased connections close on release. Loop-only.
    func shutdown() {
        assertOnLoop()
        isShutdown = true
        sweepTimer?.cancel()
        sweepTimer = nil
        for entry in entries.values {
            for connection in entry.idle {
                discard(connection, entry)
                entry.open -= 1
            }
            entry.idle.removeAll()
            while let waiter = nextWaiter(entry) {
                finish(waiter, entry, .failure(HTTPClientError(.shutdown, requestMayHaveBeenSent: false)))
            }
        }
    }
}
