import CLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One event-loop thread: an epoll instance, an eventfd for wake-ups from other threads,
/// a timer queue and a job queue. It is a Swift `TaskExecutor` and lends loop-bound actors
/// a `SerialExecutor` (see `EventLoop+Executor.swift`), so tasks and actors run their code
/// on its thread.
///
/// Methods whose names end in `0` and those documented "loop-only" must be called on the
/// loop's own thread; everything else may be called from any thread.
public final class EventLoop: @unchecked Sendable {
    /// Position of this loop in its group (0-based), for logs and per-loop tables.
    public let index: Int

    // MARK: Loop-only state (touched only on the loop's thread).
    private let selector: Selector
    private var jobs = RingBuffer<Job>(initialCapacity: 1024)
    private var timers = TimerQueue()
    private var isRunning = false

    /// Timers scheduled and neither fired nor cancelled (tests: what a connection leaves armed).
    /// Loop-only.
    var liveTimerCount: Int {
        assert(inLoop, "EventLoop.liveTimerCount read off its loop")
        return timers.liveCount
    }

    /// Monotonic nanoseconds as of the loop's last wake-up from epoll: one clock read per
    /// iteration instead of one per deadline. At most one iteration old, which is fine for
    /// timeouts and wrong for measuring durations (use ``monotonicNanoseconds()`` there).
    /// Loop-only.
    public var now: UInt64 {
        assert(inLoop, "EventLoop.now read off its loop")
        return cachedNow
    }
    private var cachedNow = monotonicNanoseconds()

    // MARK: Shared state.
    private let wakeFD: Int32
    /// Jobs from other threads, and whether the eventfd has been written since the loop
    /// last drained them (so that a burst of remote jobs costs one write, not one each).
    private let remote = Mutex<(jobs: [RemoteJob], wakePending: Bool)>(([], false))
    private let threadID = Atomic<UInt>(0)
    private let stopped = Atomic<Bool>(false)
    private let exited = Atomic<Bool>(false)

    /// The loop's identity as a `SerialExecutor`, for loop-bound actors; see
    /// `EventLoop+Executor.swift` for why it is a separate object.
    let serialExecutor = LoopSerialExecutor()
    /// Byte buffers for the loop's connections (loop-only: see ``LoopBufferPool``).
    public let bufferPool = LoopBufferPool()
    /// The scope of the task whose socket wait ended last on this loop, most often the task
    /// running now: checked before the task-local lookup (``SocketWaitScope``). Loop-only.
    /// unowned(unsafe): a scope clears it when it closes, on this loop.
    unowned(unsafe) var recentSocketWaitScope: SocketWaitScope?

    enum Job {
        /// A task job enqueued through the loop as a `TaskExecutor` (nonisolated code of
        /// a task that prefers this loop).
        case task(UnownedJob)
        /// A job of a loop-bound actor, enqueued through ``serialExecutor``.
        case isolatedTask(UnownedJob)
        case closure(() -> Void)
    }

    /// A job handed over from another thread: only `Sendable` work may cross.
    enum RemoteJob: Sendable {
        case task(UnownedJob)
        case isolatedTask(UnownedJob)
        case closure(@Sendable () -> Void)

        var local: Job {
            switch self {
            case .task(let job): .task(job)
            case .isolatedTask(let job): .isolatedTask(job)
            case .closure(let body): .closure(body)
            }
        }
    }

    init(index: Int) throws(IOError) {
        self.index = index
        selector = try Selector()
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        if fd < 0 { throw IOError.system("eventfd", errno: CLinux_errno()) }
        wakeFD = fd
        serialExecutor.loop = self
        bufferPool.loop = self
        _ = try selector.register(fd: wakeFD, interest: .read) { [wakeFD] _ in
            var value: UInt64 = 0
            _ = Glibc.read(wakeFD, &value, 8)  // resets the counter; the jobs are drained below
        }
    }

    deinit {
        selector.close()
        Glibc.close(wakeFD)
    }

    // MARK: Thread identity

    /// True once the loop's thread has started running it.
    var hasStarted: Bool { threadID.load(ordering: .acquiring) != 0 }

    /// True once the loop has stopped: nothing will wait on it any more (a wait begun now
    /// fails with ``IOError/Code/loopStopped``). Any thread.
    public var hasStopped: Bool { stopped.load(ordering: .acquiring) }

    /// True once the loop's thread has left it for good: from then on any thread may tidy up
    /// what belonged to the loop (a socket released after its group shut down).
    var hasExited: Bool { exited.load(ordering: .acquiring) }

    /// True when called on this loop's thread.
    public var inLoop: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

    /// Traps unless called on the loop's thread: a bug in Marquee, never a user error.
    public func preconditionInLoop(file: StaticString = #fileID, line: UInt = #line) {
        precondition(inLoop, "not on event loop \(index)", file: file, line: line)
    }

    /// The loop whose thread is calling, or nil off the loops.
    public static var current: EventLoop? {
        guard let raw = pthread_getspecific(currentLoopKey) else { return nil }
        // The key holds an unretained pointer set by the loop thread itself; the loop
        // outlives its thread because the group joins threads before releasing loops.
        return Unmanaged<EventLoop>.fromOpaque(raw).takeUnretainedValue()
    }

    // MARK: Jobs

    /// Runs `body` on the loop's thread, soon. May be called from any thread.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        enqueue(.closure(body))
    }

    /// Runs `body` on the loop's thread: at once when called there, else as a job, soon.
    /// May be called from any thread. The closure is made either way, so a hot path that is
    /// almost always on the loop calls its loop-only function directly instead.
    @inlinable @inline(__always)
    public func executeNowOrSoon(_ body: @escaping @Sendable () -> Void) {
        if inLoop {
            body()
        } else {
            execute(body)
        }
    }

    /// Like ``execute(_:)`` for a closure that is not `Sendable`; loop-only.
    public func execute0(_ body: @escaping () -> Void) {
        preconditionInLoop()
        jobs.append(.closure(body))
    }

    func enqueue(_ job: RemoteJob) {
        if inLoop {
            jobs.append(job.local)
            return
        }
        let mustWake = remote.withLock { state -> Bool in
            state.jobs.append(job)
            if state.wakePending { return false }
            state.wakePending = true
            return true
        }
        if mustWake { wakeUp() }
    }

    private func wakeUp() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    // MARK: Timers (loop-only)

    /// Calls `action` on the loop after `delay`. Loop-only; cancel with the returned handle.
    @discardableResult
    public func schedule0(after delay: Duration, _ action: @escaping () -> Void) -> TimerHandle {
        preconditionInLoop()
        return timers.schedule(deadline: monotonicNanoseconds() &+ delay.nanoseconds, action: action)
    }

    /// ``schedule0(after:_:)`` for a timer that ends a wait: when the loop stops before the
    /// timer fires, `loopStopped` runs instead, so that the waiter fails rather than hangs.
    @discardableResult
    public func schedule0(
        after delay: Duration, _ action: @escaping () -> Void, loopStopped: @escaping () -> Void
    ) -> TimerHandle {
        preconditionInLoop()
        return timers.schedule(
            deadline: monotonicNanoseconds() &+ delay.nanoseconds, action: action, loopStopped: loopStopped)
    }

    /// Suspends the calling task for `delay`, measured on this loop's timers.
    /// - Throws: `CancellationError` as soon as the task is cancelled; ``IOError`` with
    ///   `.loopStopped` when the loop stops first.
    public func sleep(for delay: Duration) async throws {
        let sleeper = Sleeper()
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                execute {
                    // On the loop: the sleeper's state is touched only here, so no lock is needed.
                    sleeper.start(continuation, on: self, after: delay)
                }
            }
        } onCancel: {
            execute { sleeper.cancel() }
        }
    }

    // MARK: Descriptors (loop-only)

    /// Adds `fd` to this loop's epoll. Loop-only.
    public func register0(
        fd: Int32, interest: IOInterest, handler: @escaping (IOReadiness) -> Void
    ) throws(IOError) -> IORegistration {
        preconditionInLoop()
        return try selector.register(fd: fd, interest: interest, handler: handler)
    }

    /// Changes what `registration` waits for; a no-op when unchanged. Loop-only.
    public func reregister0(_ registration: IORegistration, interest: IOInterest) throws(IOError) {
        preconditionInLoop()
        try selector.reregister(registration, interest: interest)
    }

    /// Removes `registration` from epoll; call before closing its descriptor. Loop-only (or
    /// any thread once the loop has exited).
    public func deregister0(_ registration: IORegistration) {
        precondition(inLoop || hasExited, "not on event loop \(index)")
        selector.deregister(registration)
    }

    // MARK: Running

    /// Runs the loop on the calling thread until ``stop()``.
    func run() {
        pthread_setspecific(currentLoopKey, Unmanaged.passUnretained(self).toOpaque())
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        isRunning = true
        cachedNow = monotonicNanoseconds()
        while isRunning {
            runJobs0()
            if !isRunning { break }  // a job asked to stop: do not block in epoll_wait first
            let timeout: Int32
            if !jobs.isEmpty {
                timeout = 0
            } else if let deadline = timers.nextDeadline() {
                // Round up so that we never wake before the deadline and spin; `now` may be as
                // old as the jobs just run, which makes us sleep that much longer, never less.
                timeout = deadline <= cachedNow ? 0 : Int32(min((deadline - cachedNow + 999_999) / 1_000_000, 60_000))
            } else {
                timeout = -1
            }
            do {
                try selector.poll(timeoutMilliseconds: timeout)
            } catch {
                preconditionFailure("epoll_wait failed: \(error)")
            }
            cachedNow = monotonicNanoseconds()
            drainRemote0()
            if !timers.isEmpty {
                for action in timers.popExpired(now: cachedNow) { action() }
            }
        }
        // Nothing will wake a wait from here: sockets fail their waiters, timers that end a
        // wait run their stop handler, and the jobs that follow (the resumed tasks, which see
        // `loopStopped` errors) run until none is left, within a bound.
        stopped.store(true, ordering: .releasing)
        drainRemote0()
        runJobs0()
        selector.loopStopped()
        for handler in timers.removeAllForStop() { handler() }
        for _ in 0..<64 {
            drainRemote0()
            if jobs.isEmpty { break }
            runJobs0()
        }
        pthread_setspecific(currentLoopKey, nil)
        exited.store(true, ordering: .releasing)
    }

    /// Asks the loop to return from ``run()`` after its current iteration. Any thread.
    func stop() {
        execute { [self] in self.isRunning = false }
    }

    private func drainRemote0() {
        let remoteJobs = remote.withLock { state -> [RemoteJob] in
            state.wakePending = false
            if state.jobs.isEmpty { return [] }
            let taken = state.jobs
            state.jobs.removeAll(keepingCapacity: true)
            return taken
        }
        for job in remoteJobs { jobs.append(job.local) }
    }

    /// Runs queued jobs, at most a bounded number, so that a task that keeps re-enqueuing
    /// itself cannot starve I/O and timers.
    private func runJobs0() {
        var budget = 4096
        while budget > 0, let job = jobs.popFirst() {
            budget -= 1
            switch job {
            case .task(let unownedJob):
                // Not isolated to the serial executor: nonisolated code that then hops to
                // the generic executor (after every await) would otherwise find itself on
                // "another" executor and be enqueued a second time.
                unownedJob.runSynchronously(on: asUnownedTaskExecutor())
            case .isolatedTask(let unownedJob):
                unownedJob.runSynchronously(
                    isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            case .closure(let body):
                body()
            }
        }
    }
}

/// One ``EventLoop/sleep(for:)``: resumed exactly once, by its timer or by cancellation.
/// Loop-bound; `@unchecked Sendable` because it is created off the loop and then touched
/// only by jobs on the loop.
private final class Sleeper: @unchecked Sendable {
    private var continuation: UnsafeContinuation<Void, any Error>?
    private var timer: TimerHandle?
    private var cancelled = false

    func start(_ continuation: UnsafeContinuation<Void, any Error>, on loop: EventLoop, after delay: Duration) {
        if cancelled {
            continuation.resume(throwing: CancellationError())
            return
        }
        if loop.hasStopped {
            continuation.resume(throwing: IOError(.loopStopped, operation: "sleep"))
            return
        }
        self.continuation = continuation
        timer = loop.schedule0(
            after: delay,
            { [self] in
                self.continuation?.resume()
                self.continuation = nil
            },
            loopStopped: { [self] in
                self.continuation?.resume(throwing: IOError(.loopStopped, operation: "sleep"))
                self.continuation = nil
            })
    }

    func cancel() {
        cancelled = true
        timer?.cancel()
        continuation?.resume(throwing: CancellationError())
        continuation = nil
    }
}

/// The thread-specific key behind ``EventLoop/current``.
private let currentLoopKey: pthread_key_t = {
    var key = pthread_key_t()
    let rc = pthread_key_create(&key, nil)
    precondition(rc == 0, "pthread_key_create failed")
    return key
}()
