import Reactor
import Synchronization

/// An HTTP/1.1 server, and HTTP/2 when ``HTTPServerConfiguration/http2`` is set: one listener per loop (SO_REUSEPORT), one task per connection on
/// the loop that accepted it, so a request never changes thread. With the group's loops
/// pinned one per CPU, each connection goes to the loop on the CPU that receives it.
/// A connection gets its task when its first bytes arrive (a connection that says nothing
/// costs its socket and an entry, not a task); an idle keep-alive connection parks without
/// a task (``HTTPServerConfiguration/parkingDelay``) and gets a new one, on the same loop,
/// when it wakes.
///
/// ```swift
/// let server = HTTPServer(configuration: .init(port: 8080), group: group, responder: router)
/// try await server.start()
/// // elsewhere, on SIGTERM: server.shutdown()
/// await server.run()  // returns once drained
/// ```
public final class HTTPServer: Sendable {
    public typealias Transport = @Sendable (TCPSocket) async throws -> any ByteStream

    public let configuration: HTTPServerConfiguration
    private let group: EventLoopGroup
    private let responder: any HTTPResponder
    private let transport: Transport?
    private let loopStates: [LoopState]
    /// What every HTTP/1.1 connection shares, made once.
    private let connectionShared: HTTPServerConnection.Shared
    private let boundPort = Atomic<Int>(0)
    private let connectionCount = Atomic<Int>(0)
    private let parkedCount = Atomic<Int>(0)
    private let isShuttingDown = Atomic<Bool>(false)
    /// ``run()``, once every accept loop has ended, waiting for the last connection to end.
    private let lastConnectionEnded = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let steersByCPU = Atomic<Bool>(false)

    /// - Parameter transport: wraps each accepted socket (TLS); nil serves plain TCP.
    public init(
        configuration: HTTPServerConfiguration, group: EventLoopGroup, responder: any HTTPResponder,
        transport: Transport? = nil
    ) {
        self.configuration = configuration
        self.group = group
        self.responder = responder
        self.transport = transport
        let connectionShared = HTTPServerConnection.Shared(configuration: configuration, responder: responder)
        self.connectionShared = connectionShared
        loopStates = group.loops.map { loop in
            LoopState(
                loop: loop,
                idleWaiters: connectionShared.parkingDelay.map {
                    IdleWaitQueue(
                        loop: loop, parkingDelay: $0, capacity: configuration.maxIdleTasksPerLoop,
                        idleTimeout: connectionShared.idleTimeout)
                })
        }
        for state in loopStates {
            // weak, unowned: the server owns its loops' states, which own their queues.
            state.idleWaiters?.wake = { [weak self, unowned state] connection in
                guard let self else {
                    connection.stream.close()
                    return
                }
                self.wake(connection, on: state)
            }
        }
    }

    /// The port the server listens on (the real one when 0 was configured).
    public var localPort: Int { boundPort.load(ordering: .acquiring) }

    /// Connections open right now, over all loops.
    public var openConnections: Int { connectionCount.load(ordering: .relaxed) }

    /// Connections without a task right now: parked idle ones (see
    /// ``HTTPServerConfiguration/parkingDelay``) and new ones that have sent nothing yet.
    public var parkedConnections: Int { parkedCount.load(ordering: .relaxed) }

    /// Connections each loop serves right now, in loop order (metrics). Any thread.
    public var openConnectionsPerLoop: [Int] { loopStates.map { $0.openConnections.load(ordering: .relaxed) } }

    /// Binds one listener per loop.
    /// - Throws: ``IOError`` when the address is taken or invalid.
    public func start() async throws {
        let addresses = try await SocketAddress.resolve(host: configuration.host, port: configuration.port)
        guard var address = addresses.first else {
            throw IOError(.addressResolution, operation: "resolve \(configuration.host)")
        }
        for state in loopStates {
            let bound = address
            let listener = try await withTaskExecutorPreference(state.loop) { @concurrent in
                try TCPListener(address: bound, on: state.loop)
            }
            state.listener = listener
            if address.port == 0 {
                // Every other loop must listen on the port the kernel chose for the first.
                address = listener.localAddress
                boundPort.store(address.port, ordering: .releasing)
            }
        }
        boundPort.store(address.port, ordering: .releasing)
        if let cpus = group.pinnedCPUs {
            let listeners = loopStates.compactMap(\.listener)
            do {
                try TCPListener.steerByCPU(listeners, cpus: cpus)
                steersByCPU.store(true, ordering: .releasing)
            } catch {
                // The kernel's hash still spreads connections over the loops: slower, not wrong.
            }
        }
    }

    /// Whether the kernel hands each connection to the loop on the CPU that handles its
    /// packets (the group's loops are pinned and the kernel took the program), rather than
    /// spreading connections by hash. See ``TCPListener/steerByCPU(_:cpus:)``.
    public var steersConnectionsByCPU: Bool { steersByCPU.load(ordering: .acquiring) }

    /// Accepts and serves connections until ``shutdown()``, then waits for them to drain.
    public func run() async {
        await withDiscardingTaskGroup { tasks in
            for state in loopStates {
                tasks.addTask(executorPreference: state.loop) { await self.acceptLoop(state) }
            }
        }
        // Connections run in tasks of their own (one per wake-up): wait for the last to end.
        await withCheckedContinuation { (allEnded: CheckedContinuation<Void, Never>) in
            let endedAlready = lastConnectionEnded.withLock { waiter in
                if connectionCount.load(ordering: .acquiring) == 0 { return true }
                waiter = allEnded
                return false
            }
            if endedAlready { allEnded.resume() }
        }
    }

    /// Starts a graceful shutdown: stop accepting (answering the connections the kernel had
    /// already queued), close idle keep-alive connections, answer requests in flight with
    /// `Connection: close`, and close whatever is left after the drain timeout.
    /// May be called from any thread; idempotent.
    public func shutdown() {
        guard !isShuttingDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for state in loopStates {
            state.loop.execute {
                state.listener?.closeAfterQueue()
                state.closeUndecided()
                // A connection that has sent nothing is served as if it had (a request on its
                // way is answered, see HTTPServerConnection.drain()), unless the protocol is
                // still to be settled: then it is undecided, and closes.
                for socket in state.awaitingFirstBytes.values {
                    if self.protocolIsSettled { socket.endReadWait() } else { socket.close() }
                }
                for connection in state.connections.values { connection.drain() }
                for connection in state.http2Connections.values { connection.drain() }
                state.loop.schedule0(after: self.configuration.drainTimeout) {
                    state.closeUndecided()
                    for socket in state.awaitingFirstBytes.values { socket.close() }
                    for connection in state.connections.values { connection.stream.close() }
                    for connection in state.http2Connections.values { connection.stream.close() }
                }
            }
        }
    }

    /// Ends a drain at once (a second stop signal): starts the shutdown if it had not
    /// started, then closes every connection still open. Any thread; idempotent.
    public func closeAllConnections() {
        shutdown()
        for state in loopStates {
            state.loop.execute {  // after shutdown's work on this loop: a loop runs jobs in order
                for socket in state.awaitingFirstBytes.values { socket.close() }
                for connection in state.connections.values { connection.stream.close() }
                for connection in state.http2Connections.values { connection.stream.close() }
            }
        }
    }

    private func acceptLoop(_ state: LoopState) async {
        guard let listener = state.listener else { return }
        while true {
            let accepted: AcceptedConnection
            do {
                accepted = try await listener.acceptConnection()
            } catch let error as IOError where error.code == .closed || error.code == .loopStopped {
                return
            } catch {
                try? await state.loop.sleep(for: .milliseconds(10))
                continue
            }
            if connectionCount.wrappingAdd(1, ordering: .relaxed).newValue > configuration.maxConnections {
                connectionCount.wrappingSubtract(1, ordering: .relaxed)
                accepted.close()
                continue
            }
            let home = home(forConnectionAcceptedOn: state)
            home.openConnections.wrappingAdd(1, ordering: .relaxed)
            let countedBeforeShutdown = !isShuttingDown.load(ordering: .relaxed)
            if home === state {
                awaitFirstBytes(accepted, on: home, countedBeforeShutdown: countedBeforeShutdown)
            } else {
                home.loop.execute {
                    self.awaitFirstBytes(accepted, on: home, countedBeforeShutdown: countedBeforeShutdown)
                }
            }
        }
    }

    /// Adopts an accepted connection on `state`'s loop and gives it a task only once its first
    /// bytes arrive (or its wait for them ends): a client that connects and says nothing, or
    /// not yet, costs its socket and an entry. It has the idle timeout to speak (with a
    /// transport, the header timeout: a TLS handshake is a request's opening). Loop-only.
    /// During a shutdown it is served or closed instead (``ConnectionAdmission``:
    /// `countedBeforeShutdown` says whether it was accepted before ``shutdown()`` began).
    private func awaitFirstBytes(_ accepted: AcceptedConnection, on state: LoopState, countedBeforeShutdown: Bool) {
        guard let socket = try? accepted.adopt(on: state.loop) else {
            connectionEnded(on: state)
            return
        }
        let admission = ConnectionAdmission.decide(
            shuttingDown: isShuttingDown.load(ordering: .relaxed), countedBeforeShutdown: countedBeforeShutdown,
            protocolIsSettled: protocolIsSettled)
        switch admission {
        case .close:
            socket.close()
            connectionEnded(on: state)
            return
        case .serve:
            startServing(socket, on: state)
            return
        case .awaitFirstBytes:
            break
        }
        let id = ObjectIdentifier(socket)
        state.awaitingFirstBytes[id] = socket
        parkedCount.wrappingAdd(1, ordering: .relaxed)
        let deadline = state.loop.now &+ (transport == nil ? connectionShared.idleTimeout : connectionShared.headerReadTimeout)
        socket.readDeadline = deadline
        socket.whenFirstReadable { [self] in
            state.awaitingFirstBytes[id] = nil
            parkedCount.wrappingSubtract(1, ordering: .relaxed)
            if socket.isClosed || state.loop.hasStopped || (socket.isKnownDrained && deadline <= state.loop.now) {
                // Closed (a shutdown's close), or silent until its deadline: nothing to serve.
                socket.close()
                connectionEnded(on: state)
                return
            }
            // The timer armed for this wait would stay until its deadline; the connection arms
            // its own when it waits.
            socket.readDeadline = nil
            socket.cancelDeadlineTimers()
            startServing(socket, on: state)
        }
    }

    /// Whether every connection speaks plain HTTP/1.1 (no TLS, no h2c): nothing to settle
    /// before its first request, so a shutdown serves a connection that has sent nothing yet
    /// rather than closing it (a request on its way is answered).
    private var protocolIsSettled: Bool { transport == nil && configuration.http2 == nil }

    /// Serves `socket` in a task of its own on `state`'s loop. Loop-only.
    private func startServing(_ socket: TCPSocket, on state: LoopState) {
        Task(executorPreference: state.loop) {
            // One cancellation handler for the connection's life, not one per wait.
            await state.loop.withCancellableSocketWaits { await self.serve(socket, on: state) }
        }
    }

    /// Counts a connection out, once it has closed (or failed to start); the last one out after
    /// the accept loops ended lets ``run()`` return.
    private func connectionEnded(on state: LoopState) {
        state.openConnections.wrappingSubtract(1, ordering: .relaxed)
        if connectionCount.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            lastConnectionEnded.withLock { $0.take() }?.resume()
        }
    }

    /// The loop that serves a connection `state`'s listener accepted: that loop, unless it
    /// has clearly more connections than the least busy one (see
    /// ``keepsConnection(serving:leastBusy:)``), which then takes it. A loop's connections
    /// are those it serves plus those waiting in its listener's queue: a loop that has not
    /// yet accepted its share is not idle (at start, one loop often accepts a burst before
    /// the others run).
    private func home(forConnectionAcceptedOn state: LoopState) -> LoopState {
        if loopStates.count == 1 { return state }  // no load to read: nowhere else to go
        var leastBusy = state
        var leastCount = state.load
        let own = leastCount
        for other in loopStates where other !== state {
            let count = other.load
            if count < leastCount {
                leastBusy = other
                leastCount = count
            }
        }
        return Self.keepsConnection(serving: own, leastBusy: leastCount) ? state : leastBusy
    }

    /// Whether the loop whose listener accepted a connection keeps it, serving `own`
    /// connections while the least busy loop serves `leastBusy`. Why not always: the kernel
    /// places connections by the CPU their packets arrive on (or by hash), not by load, and
    /// a client whose threads all connect from one CPU would otherwise put every
    /// connection on one loop while the others idle. The margin (4, plus a quarter of the
    /// least busy loop's count) keeps the usual spread where the kernel put it: a moved
    /// connection is served away from the CPU that receives its packets.
    static func keepsConnection(serving own: Int, leastBusy: Int) -> Bool {
        own <= leastBusy + 4 + leastBusy / 4
    }

    private func serve(_ socket: TCPSocket, on state: LoopState) async {
        // Until its protocol is known (TLS handshake, h2c preface check) the connection has
        // nothing in flight: a shutdown closes it (see ``LoopState/closeUndecided()``).
        let socketID = ObjectIdentifier(socket)
        state.undecided[socketID] = socket
        let stream: any ByteStream
        if let transport {
            do {
                stream = try await transport(socket)
            } catch {
                state.undecided[socketID] = nil
                socket.close()
                connectionEnded(on: state)
                return
            }
        } else {
            stream = socket
        }
        let http2 = configuration.http2
        var speaksHTTP2 = false
        if http2 != nil { speaksHTTP2 = await Self.speaksHTTP2(stream, timeout: configuration.headerReadTimeout) }
        guard state.undecided.removeValue(forKey: socketID) != nil else {
            // Closed by a shutdown while undecided.
            stream.close()
            connectionEnded(on: state)
            return
        }
        if let http2, speaksHTTP2 {
            let connection = HTTP2ServerConnection(
                stream: stream, configuration: configuration, http2: http2, responder: responder,
                dateCache: state.dateCache)
            let id = ObjectIdentifier(connection)
            state.http2Connections[id] = connection
            if isShuttingDown.load(ordering: .relaxed) { connection.drain() }
            await connection.run()
            state.http2Connections[id] = nil
            connectionEnded(on: state)
            return
        }
        // HTTP/1.1: this task alone reads and writes the socket (handlers run in it).
        socket.reserveWaitsForCurrentTask()
        let connection = HTTPServerConnection(
            stream: stream, shared: connectionShared, dateCache: state.dateCache, idleWaiters: state.idleWaiters)
        state.connections[ObjectIdentifier(connection)] = connection
        if isShuttingDown.load(ordering: .relaxed) { connection.drain() }
        await run(connection, on: state)
    }

    /// Runs `connection` until it ends or parks; a parked one runs again in a new task on
    /// the loop when its loop's ``IdleWaitQueue`` wakes it (the task that parked it ends
    /// meanwhile).
    private func run(_ connection: HTTPServerConnection, on state: LoopState) async {
        if await connection.run() == .parked, let socket = connection.watchedSocket, let idleWaiters = state.idleWaiters {
            parkedCount.wrappingAdd(1, ordering: .relaxed)
            idleWaiters.park(connection, on: socket)
            return
        }
        state.connections[ObjectIdentifier(connection)] = nil
        connectionEnded(on: state)
    }

    /// Runs a parked connection again, in a new task on its loop. Loop-only.
    private func wake(_ connection: HTTPServerConnection, on state: LoopState) {
        parkedCount.wrappingSubtract(1, ordering: .relaxed)
        Task(executorPreference: state.loop) {
            await state.loop.withCancellableSocketWaits {
                connection.watchedSocket?.reserveWaitsForCurrentTask()
                await self.run(connection, on: state)
            }
        }
    }
}

/// What the server keeps per loop; touched only on that loop's thread.
private final class LoopState: @unchecked Sendable {
    let loop: EventLoop
    var listener: TCPListener?
    var connections: [ObjectIdentifier: HTTPServerConnection] = [:]
    var http2Connections: [ObjectIdentifier: HTTP2ServerConnection] = [:]
    /// Connections accepted that have sent nothing yet, each without a task.
    var awaitingFirstBytes: [ObjectIdentifier: TCPSocket] = [:]
    /// The HTTP/1.1 connections waiting for a request in a task; nil when they never park.
    let idleWaiters: IdleWaitQueue?
    /// Connections this loop serves (or is about to); read by the other loops' accepts.
    let openConnections = Atomic<Int>(0)
    let dateCache = HTTPDateCache()
    /// Connections accepted whose protocol is not known yet (TLS handshake, h2c preface
    /// check): neither kind of connection, so neither drain reaches them.
    var undecided: [ObjectIdentifier: TCPSocket] = [:]

    init(loop: EventLoop, idleWaiters: IdleWaitQueue?) {
        self.loop = loop
        self.idleWaiters = idleWaiters
    }

    /// Closes the connections still undecided: nothing was asked on them yet, so a
    /// shutdown need not wait for their first request (nor for the header timeout).
    func closeUndecided() {
        let sockets = undecided
        undecided = [:]
        for socket in sockets.values { socket.close() }
    }

    /// Connections served and waiting to be accepted. Any thread (`listener` is set once,
    /// in `start()`, before any accept loop runs).
    var load: Int {
        openConnections.load(ordering: .relaxed) + (listener?.queuedConnections ?? 0)
    }
}
