import CHiredis
import Reactor
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One Redis connection bound to one event loop: a hiredis async context driven by the
/// loop's epoll, with many commands in flight (pipelining), a timeout per command and
/// reconnection with exponential backoff.
///
/// Every command ends: with its reply, with ``RedisError/Code/timedOut`` after
/// ``RedisConfiguration/commandTimeout``, with ``RedisError/Code/connectionClosed`` when the
/// connection drops under it, or at once with ``RedisError/Code/notConnected`` while the
/// connection is down (never queued behind a dead server) and with
/// ``RedisError/Code/overloaded`` when ``RedisConfiguration/maxPendingCommands`` wait already.
///
/// A command that times out also drops the connection (its other commands fail with
/// `connectionClosed`) and reconnects with backoff: a server that let one command wait that
/// long is hung or unreachable, and a fresh connection is the only way to learn which.
/// TCP keepalive is on, for a peer that disappears while nothing is in flight.
///
/// Loop-bound (``LoopBound``): public methods may be called from any thread and move to
/// ``loop`` before they touch anything; called from a task running on ``loop`` (the usual
/// case, see ``RedisClient``) a command costs no thread hop at all. Everything else is
/// loop-only state, touched only on ``loop``'s thread.
///
/// Once started, a connection keeps itself alive (its hiredis context and its reconnect timer
/// hold it) until ``close()``: call it when done (``RedisClient`` does on deinit).
public final class RedisConnection: RedisCommandSender, LoopBound, @unchecked Sendable {
    public let loop: EventLoop
    public let configuration: RedisConfiguration
    /// Mirrors `state.isConnected` for readers on other threads (health checks).
    private let connectedFlag = Atomic<Bool>(false)

    /// How a pending command is answered.
    enum Completion {
        case continuation(UnsafeContinuation<RedisReply, any Error>)
        case callback((Result<RedisReply, RedisError>) -> Void)
    }

    // MARK: Loop-only state.
    private var state: RedisConnectionStateMachine
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var adapter: RedisEventAdapter?
    private var pending = PendingCommandQueue<Completion>()
    /// Where hiredis's reader puts each reply (every context of this connection).
    private let replies = RedisReplyBuilder()
    private var timeoutTimer: TimerHandle?
    private var connectTimer: TimerHandle?
    private let timeoutNanoseconds: UInt64

    /// Creates the connection; nothing happens until ``start()``. May be called from any thread.
    public init(configuration: RedisConfiguration, on loop: EventLoop) {
        self.loop = loop
        self.configuration = configuration
        self.state = RedisConnectionStateMachine(
            initialBackoff: configuration.initialBackoff, maximumBackoff: configuration.maximumBackoff)
        self.timeoutNanoseconds = configuration.commandTimeout.nanoseconds
    }

    /// Whether the connection is up now (for health checks). Any thread.
    public var isConnected: Bool { connectedFlag.load(ordering: .relaxed) }

    /// Commands sent and not answered yet (metrics), read on ``loop``. Any thread.
    public func pendingCommandCount() async -> Int {
        await withUnsafeContinuation { continuation in
            loop.executeNowOrSoon { [self] in continuation.resume(returning: pending.count) }
        }
    }

    /// Starts connecting (and reconnecting whenever the connection drops). Any thread.
    public func start() {
        loop.executeNowOrSoon { [self] in run(state.startRequested()) }
    }

    /// Closes the connection for good: pending commands fail with `connectionClosed`. Any thread.
    public func close() {
        loop.executeNowOrSoon { [self] in
            _ = state.closeRequested()
            connectedFlag.store(false, ordering: .relaxed)
            connectTimer?.cancel()
            if let context {
                // Answers every pending callback with NULL, runs cleanup; never reconnects (closed).
                redisAsyncFree(context)
            }
        }
    }

    /// Waits until the connection is up, polling every 10 ms. Any thread.
    /// - Returns: false when `timeout` passed first.
    public func waitUntilConnected(timeout: Duration) async -> Bool {
        let deadline = monotonicNanoseconds() &+ timeout.nanoseconds
        while !isConnected {
            if monotonicNanoseconds() >= deadline { return false }
            try? await loop.sleep(for: .milliseconds(10))
        }
        return true
    }

    // MARK: Commands

    /// Sends one command (binary-safe arguments, the command name first) and waits for its reply.
    /// - Throws: ``RedisError``: `.server` for an error reply, `.timedOut`, `.connectionClosed`, `.notConnected`.
    public func send(_ command: [[UInt8]]) async throws -> RedisValue {
        RedisValue(try await send(RedisCommand(command)))
    }

    /// Sends one encoded command and waits for its reply as read (no value tree built).
    /// - Throws: as ``send(_:)-([[UInt8]])``; `.protocolError` for an incomplete command.
    public func send(_ command: RedisCommand) async throws -> RedisReply {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<RedisReply, any Error>) in
            // Not `executeNowOrSoon`: on the loop, the usual case, this makes no closure.
            if loop.inLoop {
                enqueue0(command, .continuation(continuation))
            } else {
                loop.execute { self.enqueue0(command, .continuation(continuation)) }
            }
        }
    }

    /// Sends one command without waiting for it: `completion` runs on the loop, once, with
    /// the reply or the error that ``send(_:)`` would give. Any thread.
    public func send(
        _ command: [[UInt8]], completion: @escaping @Sendable (Result<RedisValue, RedisError>) -> Void
    ) {
        let command = RedisCommand(command)
        loop.executeNowOrSoon { [self] in
            enqueue0(command, .callback { completion($0.map(RedisValue.init)) })
        }
    }

    /// Sends several commands back to back (one write when possible) and waits for all replies.
    /// - Returns: one result per command, in order; an error reply is a `.server` failure.
    public func pipeline(_ commands: [[[UInt8]]]) async -> [Result<RedisValue, RedisError>] {
        if commands.isEmpty { return [] }
        return await withUnsafeContinuation {
            (continuation: UnsafeContinuation<[Result<RedisValue, RedisError>], Never>) in
            // Not `executeNowOrSoon`: on the loop, the usual case, this makes no closure.
            if loop.inLoop {
                pipeline0(commands, continuation)
            } else {
                loop.execute { self.pipeline0(commands, continuation) }
            }
        }
    }

    private func pipeline0(
        _ commands: [[[UInt8]]], _ continuation: UnsafeContinuation<[Result<RedisValue, RedisError>], Never>
    ) {
        let collector = PipelineCollector(count: commands.count, continuation: continuation)
        for (index, command) in commands.enumerated() {
            enqueue0(RedisCommand(command), .callback { result in collector.set(index, result.map(RedisValue.init)) })
        }
    }

    /// Hands one command to hiredis, or fails it at once when the connection is down. Loop-only.
    /// - Parameter isSetup: AUTH/SELECT of a new context, sent while it still connects.
    func enqueue0(_ command: RedisCommand, _ completion: Completion, isSetup: Bool = false) {
        assertOnLoop()
        guard isSetup || state.acceptsCommands, let context, command.isComplete else {
            finish(completion, .failure(RedisError(command.isComplete ? .notConnected : .protocolError)))
            return
        }
        guard pending.count < configuration.maxPendingCommands else {
            finish(completion, .failure(RedisError(.overloaded)))
            return
        }
        let id = pending.nextID
        let status = command.bytes.withUnsafeBytes { encoded in
            // Scoped: hiredis copies the command into its output buffer before returning.
            // privdata carries the command's ID as an integer, never a pointer to a Swift object.
            redisAsyncFormattedCommand(
                context, { ac, reply, privdata in RedisConnection.replyArrived(ac, reply, privdata) },
                UnsafeMutableRawPointer(bitPattern: UInt(id)), encoded.baseAddress?.assumingMemoryBound(to: CChar.self),
                encoded.count)
        }
        guard status == REDIS_OK else {
            // The context is disconnecting: hiredis did not take the command.
            finish(completion, .failure(RedisError(.connectionClosed)))
            return
        }
        pending.append(deadline: monotonicNanoseconds() &+ timeoutNanoseconds, completion: completion)
        if timeoutTimer == nil { armTimeoutTimer0() }
    }

    private func finish(_ completion: Completion, _ result: Result<RedisReply, RedisError>) {
        switch completion {
        case .continuation(let continuation):
            switch result {
            case .success(let value): continuation.resume(returning: value)
            case .failure(let error): continuation.resume(throwing: error)
            }
        case .callback(let body):
            body(result)
        }
    }

    // MARK: hiredis callbacks (loop-only: hiredis runs them inside our calls into it)

    /// The connection behind `ac->data`, unretained: `ac->data` holds a retain of its own
    /// for as long as the context exists (see `startConnecting0`).
    private static func owner(_ data: UnsafeMutableRawPointer?) -> RedisConnection? {
        guard let data else { return nil }
        return Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue()
    }

    private static func replyArrived(
        _ ac: UnsafeMutablePointer<redisAsyncContext>?, _ reply: UnsafeMutableRawPointer?,
        _ privdata: UnsafeMutableRawPointer?
    ) {
        guard let ac, let connection = owner(ac.pointee.data) else { return }
        let id = UInt64(UInt(bitPattern: privdata))
        // `reply` is the builder's root object; its content is in `replies`.
        connection.replyArrived0(id: id, arrived: reply != nil)
    }

    private func replyArrived0(id: UInt64, arrived: Bool) {
        // nil: the command timed out earlier; its reply is dropped.
        guard let completion = pending.complete(id: id) else { return }
        // A NULL reply means the connection dropped (hiredis answers every pending command so).
        guard arrived else {
            finish(completion, .failure(RedisError(.connectionClosed)))
            return
        }
        // Copied out now: the builder reuses its buffers for the next reply.
        let reply = replies.reply()
        if let message = reply.errorMessage {
            finish(completion, .failure(RedisError(.server, message: message)))
        } else {
            finish(completion, .success(reply))
        }
    }

    // MARK: Timeouts

    /// One timer per connection, set at the oldest live command's deadline (replies come in
    /// order, so the deadlines do too): cheaper than a timer per command at 100k+ commands/s.
    private func armTimeoutTimer0() {
        guard let deadline = pending.nextDeadline else { return }
        let now = monotonicNanoseconds()
        let delay = deadline > now ? deadline - now : 0
        timeoutTimer = loop.schedule0(after: .nanoseconds(Int64(delay))) { [self] in
            timeoutTimer = nil
            let expired = pending.expire(now: monotonicNanoseconds())
            for completion in expired {
                finish(completion, .failure(RedisError(.timedOut)))
            }
            if !expired.isEmpty, let context {
                // A hung server: drop the connection (hiredis answers the rest with NULL,
                // cleanup schedules the reconnect).
                connectedFlag.store(false, ordering: .relaxed)
                redisAsyncFree(context)
                return
            }
            armTimeoutTimer0()
        }
    }

    // MARK: Connecting

    private func run(_ action: RedisConnectionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .startConnecting:
            startConnecting0()
        case .scheduleReconnect(let delay):
            loop.schedule0(after: delay) { [self] in run(state.backoffElapsed()) }
        }
    }

    private func startConnecting0() {
        let host = configuration.host
        let port = configuration.port
        // hiredis resolves a host name with a blocking getaddrinfo inside redisAsyncConnect;
        // a name is resolved on the blocking pool first, never on this loop.
        if SocketAddress(numericHost: host, port: port) != nil {
            connect0(toAddress: host)
            return
        }
        // A task, not a structured child: connecting is driven by the state machine's actions.
        Task(executorPreference: loop) { [self] in
            if let address = try? await SocketAddress.resolve(host: host, port: port).first {
                connect0(toAddress: address.host)
            } else {
                run(state.contextClosed(jitter: Double.random(in: 0..<1)))
            }
        }
    }

    private func connect0(toAddress address: String) {
        guard let ac = redisAsyncConnect(address, Int32(configuration.port)) else {
            run(state.contextClosed(jitter: Double.random(in: 0..<1)))
            return
        }
        if ac.pointee.err != 0 {
            // Failed at once (refused on loopback, bad address): no hooks attached yet.
            redisAsyncFree(ac)
            run(state.contextClosed(jitter: Double.random(in: 0..<1)))
            return
        }
        // Before anything is read: replies are built by `replies`, not as hiredis objects.
        if let reader = ac.pointee.c.reader { replies.install(on: reader) }
        do {
            adapter = try RedisEventAdapter.attach(to: ac, loop: loop) { [unowned self] in
                self.contextCleanedUp0()
            }
        } catch {
            redisAsyncFree(ac)
            run(state.contextClosed(jitter: Double.random(in: 0..<1)))
            return
        }
        // ac->data keeps the connection alive while hiredis may call back; released after
        // cleanup, once hiredis is done with the context (see `contextCleanedUp0`).
        ac.pointee.data = Unmanaged.passRetained(self).toOpaque()
        context = ac
        // After the adapter: this asks for the first write event (connect completion).
        redisAsyncSetConnectCallback(ac) { ac, status in
            guard let ac, let connection = RedisConnection.owner(ac.pointee.data) else { return }
            connection.connectFinished0(succeeded: status == REDIS_OK)
        }
        // AUTH and SELECT go first; hiredis holds them (and any command) until the socket is up.
        if let password = configuration.password {
            var auth = [Array("AUTH".utf8)]
            if let user = configuration.user { auth.append(Array(user.utf8)) }
            auth.append(Array(password.utf8))
            enqueueSetup0(auth, context: ac)
        }
        if configuration.database != 0 {
            enqueueSetup0([Array("SELECT".utf8), Array(String(configuration.database).utf8)], context: ac)
        }
        connectTimer = loop.schedule0(after: configuration.connectTimeout) { [self] in
            connectTimer = nil
            if context == ac, !state.isConnected { redisAsyncFree(ac) }
        }
    }

    /// A setup command (AUTH, SELECT): when it fails, this connection is useless; drop it
    /// (after the callback returns) and let the backoff retry.
    private func enqueueSetup0(_ command: [[UInt8]], context ac: UnsafeMutablePointer<redisAsyncContext>) {
        let callback: (Result<RedisReply, RedisError>) -> Void = { [self] result in
            guard case .failure(let error) = result, error.code != .connectionClosed else { return }
            loop.execute0 { [self] in
                if context == ac { redisAsyncFree(ac) }
            }
        }
        enqueue0(RedisCommand(command), .callback(callback), isSetup: true)
    }

    private func connectFinished0(succeeded: Bool) {
        // On failure hiredis frees the context next, which runs cleanup.
        guard succeeded else { return }
        connectTimer?.cancel()
        connectTimer = nil
        if let context { enableKeepAlive(fd: context.pointee.c.fd) }
        run(state.connectSucceeded())
        connectedFlag.store(state.isConnected, ordering: .relaxed)
    }

    /// hiredis is freeing the context (disconnect, failed connect, `redisAsyncFree`): every
    /// pending callback has already been answered with NULL. Runs inside hiredis: the next
    /// step (backoff, release) waits for a loop job, when hiredis has let go of the context.
    private func contextCleanedUp0() {
        guard let ac = context else { return }
        let data = ac.pointee.data
        context = nil
        adapter = nil
        connectedFlag.store(false, ordering: .relaxed)
        connectTimer?.cancel()
        connectTimer = nil
        // Defensive: hiredis has answered every command; anything left is failed here.
        for completion in pending.removeAll() {
            finish(completion, .failure(RedisError(.connectionClosed)))
        }
        timeoutTimer?.cancel()
        timeoutTimer = nil
        loop.execute0 { [self] in
            // hiredis is done with the context now (freed): give back ac->data's retain.
            if let data { Unmanaged<RedisConnection>.fromOpaque(data).release() }
            run(state.contextClosed(jitter: Double.random(in: 0..<1)))
        }
    }

    // MARK: Helpers

    /// Whether the connected socket has SO_KEEPALIVE on, and its idle time in seconds (tests).
    /// Any thread.
    public func _testOnly_keepAlive() async -> (enabled: Bool, idleSeconds: Int32)? {
        await withUnsafeContinuation { continuation in
            loop.executeNowOrSoon { [self] in
                guard let context, context.pointee.c.fd >= 0 else {
                    continuation.resume(returning: nil)
                    return
                }
                let fd = context.pointee.c.fd
                var on: Int32 = 0
                var idle: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &size)
                size = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, &size)
                continuation.resume(returning: (on != 0, idle))
            }
        }
    }

    /// SO_KEEPALIVE with this configuration's timing (failures leave the defaults: harmless).
    private func enableKeepAlive(fd: Int32) {
        guard fd >= 0 else { return }
        var on: Int32 = 1
        var idle = Int32(clamping: max(1, configuration.keepAliveIdle.nanoseconds / 1_000_000_000))
        var interval = Int32(clamping: max(1, configuration.keepAliveInterval.nanoseconds / 1_000_000_000))
        var count: Int32 = 3
        let size = socklen_t(MemoryLayout<Int32>.size)
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
    }

}

/// Gathers a pipeline's results and resumes its caller once all have arrived. Loop-only.
private final class PipelineCollector {
    private var results: [Result<RedisValue, RedisError>?]
    private var remaining: Int
    private let continuation: UnsafeContinuation<[Result<RedisValue, RedisError>], Never>

    init(count: Int, continuation: UnsafeContinuation<[Result<RedisValue, RedisError>], Never>) {
        results = Array(repeating: nil, count: count)
        remaining = count
        self.continuation = continuation
    }

    func set(_ index: Int, _ result: Result<RedisValue, RedisError>) {
        results[index] = result
        remaining -= 1
        if remaining == 0 {
            continuation.resume(returning: results.map { $0 ?? .failure(RedisError(.connectionClosed)) })
        }
    }
}
