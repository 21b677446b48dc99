/// One cancellation handler for all the socket waits of a task, instead of one per wait.
///
/// A suspended task learns of its cancellation only through a handler registered with it
/// (a task status record, added and removed under the task's lock). A connection's task
/// waits on its sockets once or twice per request, so it registers one handler for its
/// whole life (``EventLoop/withCancellableSocketWaits(_:)``): each of its waits notes itself
/// here while it lasts, and the handler, on the loop, ends the wait in progress and marks
/// the scope cancelled, so that later waits fail at once (a flag test, not a task query).
///
/// Only the task that opened the scope is covered. Tasks it starts inherit the task-local
/// but are not cancelled with it (an unstructured task) or may be cancelled alone (a
/// child): their waits register a handler of their own, the same behaviour at a higher cost.
///
/// Loop-bound (``LoopBound``): created, read and changed on its loop's thread only; the
/// cancellation handler, which runs on the cancelling thread, only queues a job there.
final class SocketWaitScope: LoopBound, @unchecked Sendable {
    @TaskLocal static var current: SocketWaitScope?

    let loop: EventLoop
    /// The address of the task that opened the scope while it is open, nil after: compared,
    /// never dereferenced. The task runs the scope's body meanwhile, so it is alive and no
    /// other task can have its address.
    private(set) var owner: UnsafeRawPointer?
    /// The owner's cancellation has reached the loop: its waits fail with `.cancelled`.
    private(set) var isCancelled = false
    /// The wait in progress: its socket, direction and number (``TCPSocket`` counts its
    /// waits, so that a cancellation that comes late leaves a later wait alone).
    /// unowned(unsafe): set only while the owner is suspended inside a method of that
    /// socket, which holds it, and cleared before that method returns.
    private unowned(unsafe) var waitingSocket: TCPSocket?
    private var waitIsRead = false
    private var waitNumber: UInt32 = 0

    private init(loop: EventLoop) {
        self.loop = loop
        owner = Self.currentTask()
    }

    /// The calling task's address (nil outside a task), to compare with ``owner``.
    ///
    /// `UnsafeCurrentTask` is a reference to the task: its bits are the task's address.
    /// `unsafeBitCast` checks at run time that the sizes agree (the type is resilient), so a
    /// runtime that changed its layout traps here rather than compare something else. Not
    /// `==` on `UnsafeCurrentTask` values: outside the standard library every copy of one
    /// goes through its value witnesses, and this runs on every wait (DESIGN.md, "Socket
    /// waits and cancellation").
    @inline(__always)
    static func currentTask() -> UnsafeRawPointer? {
        withUnsafeCurrentTask { unsafeBitCast($0, to: UnsafeRawPointer?.self) }
    }

    /// Notes the wait that starts now, until ``waitEnded()``.
    @inline(__always)
    func waitBegan(on socket: TCPSocket, isRead: Bool, number: UInt32) {
        waitingSocket = socket
        waitIsRead = isRead
        waitNumber = number
    }

    @inline(__always)
    func waitEnded() {
        waitingSocket = nil
        loop.recentSocketWaitScope = self
    }

    /// The owner was cancelled: ends the wait in progress and fails those to come.
    private func ownerCancelled() {
        assertOnLoop()
        isCancelled = true
        if let waitingSocket { waitingSocket.cancelWait(waitNumber, isRead: waitIsRead) }
    }

    static func run<R>(on loop: EventLoop, _ body: () async throws -> R) async rethrows -> R {
        let scope = SocketWaitScope(loop: loop)
        defer {
            scope.owner = nil
            if loop.recentSocketWaitScope === scope { loop.recentSocketWaitScope = nil }
        }
        return try await withTaskCancellationHandler {
            try await $current.withValue(scope) { try await body() }
        } onCancel: {
            loop.execute { scope.ownerCancelled() }
        }
    }
}

extension EventLoop {
    /// Runs `body` under one cancellation handler for every wait that the calling task makes
    /// on this loop's sockets meanwhile, so that those waits register none each. Call it
    /// around the life of a task that waits on sockets often (a connection's). The waits
    /// behave the same with it or without it (``TCPSocket/waitUntilReadable()``). Call it from
    /// a task whose executor preference is this loop (it must end on the loop too).
    public func withCancellableSocketWaits<R>(_ body: () async throws -> R) async rethrows -> R {
        preconditionInLoop()
        return try await SocketWaitScope.run(on: self, body)
    }
}
