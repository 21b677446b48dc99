import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// What a wait for reading that holds no task calls back (``TCPSocket/whenReadable(notifying:)``):
/// an object that exists anyway (the connection that waits), so that such a wait allocates
/// nothing, where a closure would capture its context in an allocation each time.
public protocol SocketReadObserver: AnyObject {
    /// The wait ended, on the loop: readiness, the read deadline, close or the loop's end (the
    /// next read tells which). Called once per wait.
    func socketReadWaitEnded()
}

/// A non-blocking TCP connection on an event loop.
///
/// The socket is registered once, edge-triggered, for both directions, and remembers
/// whether it may be readable or writable; a read or write that would block suspends the
/// task until epoll says otherwise. So a request costs no `epoll_ctl` at all, and a read
/// is tried first without waiting, which saves a loop iteration whenever data is there.
///
/// Loop-bound (``LoopBound``): `@unchecked Sendable` so that it can be handed to a task on
/// its loop; all state is touched only on the loop's thread.
public final class TCPSocket: ByteStream, @unchecked Sendable {
    public let loop: EventLoop
    public let fd: Int32
    public let remoteAddress: SocketAddress?
    public var readDeadline: UInt64? { didSet { assertOnLoop() } }
    public var writeDeadline: UInt64? { didSet { assertOnLoop() } }

    private var registration: IORegistration?
    private var mayRead = true
    private var mayWrite = true
    /// Set once epoll reported the peer's FIN (or an error): from then on a short read no
    /// longer means "drained", since the end of stream will not raise another edge.
    private var peerClosed = false
    /// Set by the first readiness event: until then, bytes that arrived before the socket was
    /// registered are still to be reported by that event (see ``whenFirstReadable(_:)``).
    private var hasHadReadiness = false
    public var onPeerClosed: (() -> Void)?
    private var readWaiter: UnsafeContinuation<Void, any Error>?
    /// A read wait that holds no task (``whenReadable(_:)``); called once.
    private var readCallback: ReadCallback?

    /// Whom a read wait that holds no task calls back.
    private enum ReadCallback {
        case closure(() -> Void)
        case observer(any SocketReadObserver)
    }
    private var writeWaiter: UnsafeContinuation<Void, any Error>?
    /// Bytes taken by ``sendAtEndOfRound(_:)`` and not yet in the kernel.
    private var deferred: [UInt8] = []
    private var deferredSendScheduled = false
    /// Why an end-of-round send failed; the next read or write throws it.
    private var deferredError: IOError?
    private var readTimer = DeadlineTimer()
    private var writeTimer = DeadlineTimer()
    /// Waits begun in each direction: a cancellation handler, which reaches the loop later,
    /// ends only the wait it was made for, never one begun after it. (Tests read them.)
    private(set) var readWaits: UInt32 = 0
    private(set) var writeWaits: UInt32 = 0
    /// Set by ``reserveWaitsForCurrentTask()``: while this scope is open, only its owner
    /// waits on the socket, and no wait asks which task it is (debug builds still check).
    private var reservedWaitScope: SocketWaitScope?
    public private(set) var isClosed = false

    /// The one timer per direction that enforces the deadline of waits.
    ///
    /// It is lazy, so that a request costs no timer at all: a wait whose deadline is no
    /// earlier than the armed timer's leaves it armed, a wait that ends does not cancel it,
    /// and when it fires it fails the waiter only if the current deadline has passed, else it
    /// re-arms for that deadline. A keep-alive connection whose idle deadline moves forward
    /// on every request so fires about once per timeout period, not once per request.
    private struct DeadlineTimer {
        var handle: TimerHandle?
        var deadline: UInt64 = 0

        mutating func cancel() {
            handle?.cancel()
            handle = nil
        }
    }

    /// Adopts a connected non-blocking socket. Loop-only.
    init(adopting fd: Int32, loop: EventLoop, remoteAddress: SocketAddress?) throws(IOError) {
        loop.preconditionInLoop()
        self.fd = fd
        self.loop = loop
        self.remoteAddress = remoteAddress
        var one: Int32 = 1
        // Responses are written whole; Nagle would only delay them.
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        do {
            registration = try loop.register0(fd: fd, interest: [.read, .write, .edgeTriggered, .loopStopped]) {
                [unowned(unsafe) self] readiness in
                // unowned(unsafe): the registration is removed in close() or deinit before the
                // socket goes away (off the loop, deinit marks it released first: see there).
                self.readinessChanged(readiness)
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit {
        if loop.inLoop || loop.hasExited {
            if !isClosed {
                // A socket dropped without close() (a task that was cancelled mid-way): do not
                // leak the descriptor. Its registration still points at us, so remove it first.
                if let registration { loop.deregister0(registration) }
                Glibc.close(fd)
            }
            readTimer.cancel()
            writeTimer.cancel()
            return
        }
        // Released on another thread: the registration and the timers belong to the loop,
        // so the loop removes them and closes the descriptor. Until it does, the loop must
        // not call into this (freed) socket: the released mark makes it drop the events.
        let leftovers = Leftovers(
            loop: loop, registration: isClosed ? nil : registration, fd: isClosed ? nil : fd,
            timers: [readTimer.handle, writeTimer.handle].compactMap { $0 })
        leftovers.registration?.markReleased()
        loop.execute {
            if let registration = leftovers.registration { leftovers.loop.deregister0(registration) }
            if let fd = leftovers.fd { Glibc.close(fd) }
            for timer in leftovers.timers { timer.cancel() }
        }
    }

    /// What a socket released off its loop leaves for the loop to clean up. Touched only by
    /// the job that does it, on the loop (`@unchecked Sendable` to get it there).
    private final class Leftovers: @unchecked Sendable {
        let loop: EventLoop
        let registration: IORegistration?
        let fd: Int32?
        let timers: [TimerHandle]

        init(loop: EventLoop, registration: IORegistration?, fd: Int32?, timers: [TimerHandle]) {
            self.loop = loop
            self.registration = registration
            self.fd = fd
            self.timers = timers
        }
    }

    // MARK: Connecting

    /// Opens a connection to `address`, failing with `.timedOut` after `timeout`.
    ///
    /// May be called from any task: the connection is made on (and bound to) `loop`.
    public static func connect(
        to address: SocketAddress, on loop: EventLoop, timeout: Duration
    ) async throws -> TCPSocket {
        let deadline = monotonicNanoseconds() &+ timeout.nanoseconds
        if loop.inLoop { return try await connect0(to: address, on: loop, deadline: deadline) }
        return try await withTaskExecutorPreference(loop) { @concurrent in
            try await connect0(to: address, on: loop, deadline: deadline)
        }
    }

    private static func connect0(
        to address: SocketAddress, on loop: EventLoop, deadline: UInt64
    ) async throws -> TCPSocket {
        let fd = Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw IOError.system("socket", errno: CLinux_errno()) }
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        let err = rc == 0 ? 0 : CLinux_errno()
        if rc != 0 && err != EINPROGRESS {
            Glibc.close(fd)
            throw IOError.system("connect(\(address))", errno: err)
        }
        let socket = try TCPSocket(adopting: fd, loop: loop, remoteAddress: address)
        if rc != 0 {
            socket.mayWrite = false
            socket.writeDeadline = deadline
            do {
                try await socket.waitUntilWritable()
            } catch let error as IOError where error.code == .timedOut {
                socket.close()
                throw IOError(.timedOut, operation: "connect(\(address))")
            } catch {
                socket.close()
                throw error
            }
            socket.writeDeadline = nil
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if soError != 0 {
                socket.close()
                throw IOError.system("connect(\(address))", errno: soError)
            }
        }
        return socket
    }

    // MARK: Reading and writing

    // Inlined into the `ByteStream` witness, through which every caller reaches it:
    // otherwise each read costs a second async frame.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        assertOnLoop()
        while true {
            if isClosed { throw IOError(.closed, operation: "read") }
            if let deferredError { throw deferredError }
            if mayRead {
                let result = try syscall(blocking: false, "read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
                switch result {
                case .processed(let count):
                    // A short read drained the kernel buffer; the next arrival is a new edge
                    // (but a FIN that came with the data raises none: keep reading then).
                    if count < buffer.count && !peerClosed { mayRead = false }
                    return count
                case .wouldBlock:
                    mayRead = false
                }
            }
            try await waitUntilReadable()
        }
    }

    /// Copies the bytes received and not yet read into `buffer` without taking them
    /// (`MSG_PEEK`): their count, 0 at the end of the stream, nil when none has arrived (the
    /// socket then counts as drained: ``waitUntilReadable()`` may follow at once). Fails with
    /// `.closed` on a closed socket, whose descriptor number may belong to another by now.
    /// Loop-only.
    public func peek(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> Int? {
        assertOnLoop()
        if isClosed { throw IOError(.closed, operation: "peek") }
        if let deferredError { throw deferredError }
        let result = try syscall(blocking: false, "recv") {
            Glibc.recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        }
        switch result {
        case .processed(let count):
            return count
        case .wouldBlock:
            if !peerClosed { mayRead = false }
            return nil
        }
    }

    /// Reads from `stream`, through `socket` when that is the same stream known to be a plain
    /// TCP socket (the caller casts once per connection).
    ///
    /// Why: an `async` call through the `ByteStream` existential returns through a hop back to
    /// the caller's executor (`swift_task_switch`, which looks up the task's executor
    /// preference under a lock) on every read; a call to the concrete socket does not.
    @inlinable @inline(__always)
    public static func read(
        into buffer: UnsafeMutableRawBufferPointer, from stream: any ByteStream, socket: TCPSocket?
    ) async throws -> Int {
        if let socket { return try await socket.read(into: buffer) }
        return try await stream.read(into: buffer)
    }

    public func write(_ bytes: ArraySlice<UInt8>) async throws {
        assertOnLoop()
        if let deferredError { throw deferredError }
        if !deferred.isEmpty {
            // What the end of the round could not send goes first.
            let leftover = deferred
            deferred = []
            try await writeNow(leftover[...])
        }
        try await writeNow(bytes)
    }

    public func finishSends() async throws {
        try await write([][...])
    }

    public var isPeerClosed: Bool { peerClosed }

    public var socketToWatch: TCPSocket? { self }

    /// Whether ``sendAtEndOfRound(_:)`` would take bytes now (for transports that must know
    /// before they commit to it, like TLS, which encrypts first).
    public var canSendAtEndOfRound: Bool {
        !isClosed && mayWrite && deferred.isEmpty && deferredError == nil
    }

    public func sendAtEndOfRound(_ bytes: inout [UInt8]) -> Bool {
        assertOnLoop()
        guard canSendAtEndOfRound, !bytes.isEmpty else { return false }
        swap(&deferred, &bytes)
        if !deferredSendScheduled {
            deferredSendScheduled = true
            // A job queued now runs after the tasks this round has already resumed.
            loop.execute0 { [self] in
                deferredSendScheduled = false
                sendDeferred()
            }
        }
        return true
    }

    /// Sends the deferred bytes as far as the socket takes them; the rest waits for epoll to
    /// report room (``readinessChanged(_:)``) or for the next ``write(_:)``.
    private func sendDeferred() {
        guard !isClosed, !deferred.isEmpty else { return }
        var sent = 0
        while sent < deferred.count, mayWrite {
            let outcome = deferred[sent...].withUnsafeBytes { raw in
                // The array's storage is pinned only inside this synchronous call.
                Result { () throws(IOError) in
                    try syscall(blocking: false, "send") { Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) }
                }
            }
            switch outcome {
            case .success(.processed(let count)):
                sent += count
            case .success(.wouldBlock):
                mayWrite = false
            case .failure(let error):
                // The connection is broken: what was not sent is lost, as it would be in the
                // kernel's buffer; a waiting reader learns it now, anyone else on their next call.
                deferredError = error
                loop.bufferPool.recycle(&deferred)
                resume(&readWaiter, with: error)
                return
            }
        }
        if sent == deferred.count {
            // Sent: the memory goes back to the loop, so that an idle connection holds none.
            loop.bufferPool.recycle(&deferred)
        } else {
            deferred.removeSubrange(0..<sent)
        }
    }

    private func writeNow(_ bytes: ArraySlice<UInt8>) async throws {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            if isClosed { throw IOError(.closed, operation: "write") }
            if mayWrite {
                let result = try bytes[offset...].withUnsafeBytes { raw in
                    // The slice's storage is pinned only inside this synchronous call.
                    try syscall(blocking: false, "send") {
                        Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                    }
                }
                switch result {
                case .processed(let count):
                    offset += count
                    continue
                case .wouldBlock:
                    mayWrite = false
                }
            }
            try await waitUntilWritable()
        }
    }

    /// Half-closes the connection: the peer reads end of stream, we can still read.
    public func shutdownWrite() {
        assertOnLoop()
        if !isClosed { Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Ends reading with `shutdown(SHUT_RD)`: bytes already received are still read, then
    /// end of stream. The kernel wakes a waiting read (a state change raises an epoll edge).
    public func endReading() {
        assertOnLoop()
        if !isClosed { Glibc.shutdown(fd, Int32(SHUT_RD)) }
    }

    public func closeLingering(until deadline: UInt64) async {
        assertOnLoop()
        guard !isClosed else { return }
        shutdownWrite()
        readDeadline = deadline
        // Scratch for the dropped bytes; the kernel writes into it only inside read(2),
        // during the synchronous part of each read below, so freeing it after the loop is safe.
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { scratch.deallocate() }
        while let count = try? await read(into: scratch), count > 0 {}
        close()
    }

    public func close() {
        assertOnLoop()
        guard !isClosed else { return }
        // Deferred bytes get one try: a response written just before a close (a client that
        // half-closed after its request) is not dropped for being deferred.
        sendDeferred()
        isClosed = true
        onPeerClosed = nil  // it may hold the stream's owner
        if let registration { loop.deregister0(registration) }
        registration = nil
        Glibc.close(fd)
        readTimer.cancel()
        writeTimer.cancel()
        resume(&readWaiter, with: IOError(.closed, operation: "read"))
        resume(&writeWaiter, with: IOError(.closed, operation: "write"))
        callReadCallback()
    }

    // MARK: Readiness

    private func readinessChanged(_ readiness: IOReadiness) {
        hasHadReadiness = true
        if readiness.isLoopStopped {
            // Nothing will wake these waits any more: they fail rather than hang.
            resume(&readWaiter, with: IOError(.loopStopped, operation: "read"))
            resume(&writeWaiter, with: IOError(.loopStopped, operation: "write"))
            callReadCallback()
            return
        }
        let newlyPeerClosed = readiness.isPeerClosed && !peerClosed
        if readiness.isPeerClosed { peerClosed = true }
        if readiness.isReadable {
            mayRead = true
            resume(&readWaiter, with: nil)
            callReadCallback()
        }
        if readiness.isWritable {
            mayWrite = true
            if writeWaiter != nil {
                resume(&writeWaiter, with: nil)
            } else if !deferred.isEmpty {
                sendDeferred()
            }
        }
        // Last, with the socket's state up to date: the observer may act on it.
        if newlyPeerClosed, let onPeerClosed { onPeerClosed() }
    }

    private func resume(_ waiter: inout UnsafeContinuation<Void, any Error>?, with error: IOError?) {
        guard let pending = waiter else { return }
        waiter = nil
        if let error { pending.resume(throwing: error) } else { pending.resume() }
    }

    /// Makes sure a timer fires no later than `deadline` for the waits of one direction.
    private func armTimer(isRead: Bool, deadline: UInt64) {
        let armed = isRead ? readTimer : writeTimer
        if let handle = armed.handle, handle.isPending, armed.deadline <= deadline { return }
        armed.handle?.cancel()
        let now = monotonicNanoseconds()
        let handle = loop.schedule0(after: .nanoseconds(Int64(deadline > now ? deadline - now : 0))) {
            [unowned(unsafe) self] in
            // unowned(unsafe): close() and deinit cancel the timers, so self is alive here.
            self.deadlineTimerFired(isRead: isRead)
        }
        if isRead {
            readTimer = DeadlineTimer(handle: handle, deadline: deadline)
        } else {
            writeTimer = DeadlineTimer(handle: handle, deadline: deadline)
        }
    }

    private func deadlineTimerFired(isRead: Bool) {
        if isRead { readTimer.handle = nil } else { writeTimer.handle = nil }
        let waiting = isRead ? readWaiter != nil || readCallback != nil : writeWaiter != nil
        guard waiting, let deadline = isRead ? readDeadline : writeDeadline else { return }
        if deadline <= monotonicNanoseconds() {
            if isRead {
                resume(&readWaiter, with: IOError(.timedOut, operation: "read"))
                callReadCallback()
            } else {
                resume(&writeWaiter, with: IOError(.timedOut, operation: "write"))
            }
        } else {
            armTimer(isRead: isRead, deadline: deadline)
        }
    }

    /// For transports that do their own reads on ``fd`` (TLS): records that such a read came
    /// back short or empty, so that the socket counts as drained (``isKnownDrained``) until
    /// its next readiness edge. Call it in the same synchronous stretch as that read. A FIN
    /// that came with the data raises no further edge, so then nothing is recorded.
    public func noteReadDrained() {
        assertOnLoop()
        if !peerClosed { mayRead = false }
    }

    /// Whether a read on the descriptor would find nothing, as far as the socket knows: its
    /// last read came back short (``noteReadDrained()``) and no readiness edge has come
    /// since. Then ``waitUntilReadable()`` may be called at once instead of that read.
    public var isKnownDrained: Bool { !mayRead && !peerClosed && !isClosed }

    /// Waits for the next readiness event for reading.
    ///
    /// For transports that do their own reads on ``fd`` (TLS): call it only right after a
    /// read on the descriptor returned EAGAIN, or while ``isKnownDrained``, in the same
    /// synchronous stretch, so that no edge can be missed.
    ///
    /// Every wait of the socket (this one, ``waitUntilWritable()``, and those inside
    /// ``read(into:)``, ``write(_:)``, ``finishSends()``, ``closeLingering(until:)`` and
    /// ``connect(to:on:timeout:)``) ends the same way, with or without a deadline:
    /// - on readiness, returning;
    /// - at the direction's deadline (``readDeadline``, ``writeDeadline``) with `.timedOut`;
    /// - on ``close()`` with `.closed`, when the loop stops with `.loopStopped`; a wait begun
    ///   on a closed socket fails with `.closed` at once, whatever its deadline;
    /// - when its task is cancelled, with `.cancelled`, as soon as the loop runs the job that
    ///   the cancellation queues; a wait begun by a task already cancelled fails the same
    ///   way, and a deadline that passed in a task cancelled meanwhile reports the
    ///   cancellation.
    /// A task inside ``EventLoop/withCancellableSocketWaits(_:)`` gets this from one handler
    /// for its whole life; any other registers one per wait.
    @inline(__always)  // into read(into:): one async frame fewer per wait
    public func waitUntilReadable() async throws {
        assertOnLoop()
        try await wait(isRead: true)
    }

    /// Ends the current read wait at once, failing it with `.timedOut` as if its deadline had
    /// passed, or calls the ``whenReadable(_:)`` callback; nothing when no read waits. For an
    /// owner that judges on its own clock when a wait has lasted long enough: the HTTP server
    /// parks idle connections in one sweep per loop rather than with a deadline per wait, which
    /// busy connections would re-arm all the time, and wakes the connections that have not
    /// sent a byte yet when it shuts down. Loop-only.
    public func endReadWait() {
        assertOnLoop()
        resume(&readWaiter, with: IOError(.timedOut, operation: "read"))
        callReadCallback()
    }

    /// Calls `callback` once, on the loop, at the next readiness event for reading, when the
    /// read deadline passes, or when the socket is closed or its loop stops: a wait for reading
    /// that holds no task (an idle keep-alive connection parked by the HTTP server). The
    /// callback is not told which: it starts whatever reads next, and that read tells.
    ///
    /// The rule of ``waitUntilReadable()`` applies: call it while ``isKnownDrained`` (else the
    /// callback is called at once, as it is on a closed socket or a stopped loop). It ends the
    /// reservation of ``reserveWaitsForCurrentTask()``: the task that made it is about to end
    /// (the scope would otherwise live as long as the socket). Loop-only.
    public func whenReadable(_ callback: @escaping () -> Void) {
        whenReadable(calling: .closure(callback))
    }

    /// ``whenReadable(_:)`` that calls `observer` back, allocating nothing. Loop-only.
    public func whenReadable(notifying observer: any SocketReadObserver) {
        whenReadable(calling: .observer(observer))
    }

    private func whenReadable(calling callback: ReadCallback) {
        assertOnLoop()
        precondition(readWaiter == nil && readCallback == nil, "two concurrent reads on one socket")
        reservedWaitScope = nil
        readCallback = callback
        guard isKnownDrained, !loop.hasStopped else {
            callReadCallback()
            return
        }
        if let readDeadline { armTimer(isRead: true, deadline: readDeadline) }
    }

    /// Cancels the timers that enforce the deadlines of waits, if armed, while nothing waits:
    /// a wait that ends leaves its timer armed for the next wait, so it would stay (with its
    /// closure) until the deadline it was armed for. For an owner that keeps the socket a long
    /// time without waiting on it, or keeps its deadlines itself (the HTTP server's idle
    /// connections hold no timer); the next wait with a deadline arms one again. Loop-only.
    public func cancelDeadlineTimers() {
        assertOnLoop()
        if readWaiter == nil && readCallback == nil { readTimer.cancel() }
        if writeWaiter == nil { writeTimer.cancel() }
    }

    /// ``whenReadable(_:)`` for a socket just adopted, before anything read it: calls back when
    /// its first bytes are there (or at the read deadline, on close, when the loop stops), so
    /// that a connection holds no task until its client speaks. Call it in the same synchronous
    /// stretch as the adoption, before the loop polls: epoll then reports bytes that arrived
    /// before the registration as its first event, so the socket may count as drained until
    /// that event. Called later, it is ``whenReadable(_:)``. Loop-only.
    public func whenFirstReadable(_ callback: @escaping () -> Void) {
        assertOnLoop()
        if !hasHadReadiness && !peerClosed { mayRead = false }
        whenReadable(callback)
    }

    private func callReadCallback() {
        guard let callback = readCallback else { return }
        readCallback = nil
        switch callback {
        case .closure(let call): call()
        case .observer(let observer): observer.socketReadWaitEnded()
        }
    }

    /// Waits for the next readiness event for writing; see ``waitUntilReadable()`` for when
    /// to call it and how every wait ends.
    public func waitUntilWritable() async throws {
        assertOnLoop()
        try await wait(isRead: false)
    }

    /// Suspends until readiness, the deadline, close(), the loop's end or the task's
    /// cancellation: the one behaviour of ``waitUntilReadable()``.
    @inline(__always)  // into waitUntilReadable/Writable: one async frame fewer per wait
    private func wait(isRead: Bool) async throws {
        // Nothing would end a wait on a closed socket but its deadline (close() ends only the
        // waits in progress), and its descriptor number may belong to another socket by now.
        if isClosed { throw IOError(.closed, operation: isRead ? "read" : "write") }
        let deadline = isRead ? readDeadline : writeDeadline
        // The loop's cached clock: a deadline passed since the loop woke is caught by the timer.
        if let deadline, deadline <= loop.now {
            throw Self.cancelledIfTimedOut(IOError(.timedOut, operation: isRead ? "read" : "write"))
        }
        // The number `suspend` gives this wait: a cancellation handler may reach the loop after
        // this wait ended and another began, and must leave that one alone.
        let number = (isRead ? readWaits : writeWaits) &+ 1
        guard let scope = waitScopeOfThisWait() else {
            try await waitWithOwnHandler(isRead: isRead, number: number)
            return
        }
        if scope.isCancelled { throw IOError(.cancelled, operation: isRead ? "read" : "write") }
        scope.waitBegan(on: self, isRead: isRead, number: number)
        defer { scope.waitEnded() }
        do {
            try await suspend(isRead: isRead)
        } catch {
            throw Self.cancelledIfTimedOut(error)
        }
    }

    /// A wait that no scope covers: it registers a cancellation handler of its own. If the
    /// task is cancelled already, the handler runs at once and its job ends the wait as soon
    /// as it has begun.
    @inline(never)
    private func waitWithOwnHandler(isRead: Bool, number: UInt32) async throws {
        do {
            try await withTaskCancellationHandler {
                try await suspend(isRead: isRead)
            } onCancel: {
                loop.execute { [self] in cancelWait(number, isRead: isRead) }
            }
        } catch {
            throw Self.cancelledIfTimedOut(error)
        }
    }

    /// A deadline that passed in a task cancelled meanwhile reports the cancellation.
    private static func cancelledIfTimedOut(_ error: any Error) -> any Error {
        guard let error = error as? IOError, error.code == .timedOut, Task.isCancelled else { return error }
        return IOError(.cancelled, operation: error.operation)
    }

    /// Declares that until the calling task's ``EventLoop/withCancellableSocketWaits(_:)``
    /// ends, that task alone waits on this socket (a connection's task and its own socket;
    /// not a socket whose writes another task makes, as HTTP/2's do): its waits then find the
    /// task's scope without asking which task is waiting. Debug builds check each wait.
    /// Without such a scope, it does nothing. Loop-only.
    public func reserveWaitsForCurrentTask() {
        assertOnLoop()
        reservedWaitScope = waitScopeOfCurrentTask()
    }

    /// The scope that covers a wait of the calling task now, if any.
    @inline(__always)
    private func waitScopeOfThisWait() -> SocketWaitScope? {
        if let scope = reservedWaitScope, scope.owner != nil {
            assert(scope.owner == SocketWaitScope.currentTask(), "a task other than the one it is reserved for waits on the socket")
            return scope
        }
        return waitScopeOfCurrentTask()
    }

    /// The calling task's ``SocketWaitScope`` on this loop, if it opened one.
    @inline(never)  // off the path of a reserved socket's waits
    private func waitScopeOfCurrentTask() -> SocketWaitScope? {
        guard let task = SocketWaitScope.currentTask() else { return nil }
        if let scope = loop.recentSocketWaitScope, scope.owner == task { return scope }
        guard let scope = SocketWaitScope.current, scope.loop === loop, scope.owner == task else { return nil }
        return scope
    }

    /// Ends wait number `wait` with `.cancelled` if it is still in progress. Loop-only.
    func cancelWait(_ wait: UInt32, isRead: Bool) {
        assertOnLoop()
        if isRead {
            if readWaits == wait { resume(&readWaiter, with: IOError(.cancelled, operation: "read")) }
        } else {
            if writeWaits == wait { resume(&writeWaiter, with: IOError(.cancelled, operation: "write")) }
        }
    }

    // Not inlined: Swift 6.3.1 crashes (signal 11, coroutine splitting of read(into:)) when it is.
    //
    // `_unsafeInheritExecutor_withUnsafeThrowingContinuation` rather than the public
    // `withUnsafeThrowingContinuation(isolation:)`: the latter hops to `isolation` on entry,
    // and this function, nonisolated(nonsending), is already there. Each hop is a
    // `swift_task_switch`, which looks up the task's executor preference under a lock; this
    // wait runs once or twice per request (DESIGN.md, "Socket waits and cancellation", has
    // the cost). The hop back after the wait stays. If a toolchain drops the underscored
    // function, the public one is a drop-in replacement.
    @inline(never)
    private func suspend(isRead: Bool) async throws {
        try await _unsafeInheritExecutor_withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            if isRead { readWaits &+= 1 } else { writeWaits &+= 1 }
            if loop.hasStopped {
                continuation.resume(throwing: IOError(.loopStopped, operation: isRead ? "read" : "write"))
                return
            }
            if isRead {
                precondition(readWaiter == nil && readCallback == nil, "two concurrent reads on one socket")
                readWaiter = continuation
                if let readDeadline { armTimer(isRead: true, deadline: readDeadline) }
            } else {
                precondition(writeWaiter == nil, "two concurrent writes on one socket")
                writeWaiter = continuation
                if let writeDeadline { armTimer(isRead: false, deadline: writeDeadline) }
            }
        }
    }
}
