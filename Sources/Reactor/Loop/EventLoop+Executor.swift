/// The loop as a Swift `TaskExecutor`: tasks created with `Task(executorPreference: loop)`
/// (or inside `withTaskExecutorPreference(loop)`) run their nonisolated code on the loop's
/// thread.
///
/// The loop is deliberately not a `SerialExecutor` itself. The runtime hands both kinds of
/// job to `enqueue`, and each must run differently: an actor's job isolated to the actor's
/// serial executor, a task's nonisolated job on the task executor alone. A nonisolated job
/// run "isolated to the loop" would see every hop back to the generic executor after an
/// `await` as a change of executor that cannot be taken inline, and the runtime would
/// enqueue the task a second time. So the serial-executor identity is a separate object,
/// ``LoopSerialExecutor``, whose jobs run isolated.
///
/// Rule: bind a loop-bound actor with `loop.asUnownedSerialExecutor()`.
extension EventLoop: TaskExecutor {
    /// Called by the Swift runtime from any thread, for jobs of tasks that prefer this loop.
    /// A job enqueued from the loop itself (the usual case: a continuation resumed by an
    /// epoll handler) costs no wake-up.
    public func enqueue(_ job: consuming ExecutorJob) {
        enqueue(.task(UnownedJob(job)))
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// The serial executor of actors bound to this loop (their `unownedExecutor`): their
    /// jobs run on the loop's thread, isolated to ``LoopSerialExecutor``.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: serialExecutor)
    }
}

/// The serial-executor face of one ``EventLoop`` (see above): its jobs run on the loop,
/// isolated to this executor.
final class LoopSerialExecutor: SerialExecutor, @unchecked Sendable {
    /// Set once by the loop's initializer, before the executor can be handed out; the
    /// loop owns this object and outlives every actor bound to it (loops live as long as
    /// their group, which is created once per process).
    unowned(unsafe) var loop: EventLoop!

    init() {}

    func enqueue(_ job: consuming ExecutorJob) {
        loop.enqueue(.isolatedTask(UnownedJob(job)))
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func checkIsolated() {
        loop.preconditionInLoop()
    }
}
