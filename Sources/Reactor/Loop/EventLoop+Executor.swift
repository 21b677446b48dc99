/// The loop as a Swift executor: actors whose `unownedExecutor` is the loop and tasks
/// created with `Task(executorPreference: loop)` run their jobs on the loop's thread.
///
/// The runtime calls one `enqueue` for both roles, and a job must be run differently in
/// each: an actor's job isolated to the actor's serial executor, a task's nonisolated job
/// on the task executor alone. Running the latter "isolated to the loop" (as we once did)
/// makes every hop back to the generic executor after an `await` look like a change of
/// executor that cannot be taken inline, so the runtime enqueued the task a second time:
/// two jobs, a status record and two executor look-ups per socket wake-up. So the serial
/// executor identity is a separate object, ``LoopSerialExecutor``, whose jobs run isolated;
/// the loop itself, as a `TaskExecutor`, runs its jobs on the task executor.
///
/// Rule: bind actors with `loop.asUnownedSerialExecutor()` (never
/// `UnownedSerialExecutor(ordinary: loop)`, which would lose the isolation).
extension EventLoop: SerialExecutor, TaskExecutor {
    /// Called by the Swift runtime from any thread, for jobs of tasks that prefer this loop.
    /// A job enqueued from the loop itself (the usual case: a continuation resumed by an
    /// epoll handler) costs no wake-up.
    public func enqueue(_ job: consuming ExecutorJob) {
        enqueue(.task(UnownedJob(job)))
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: serialExecutor)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    public func checkIsolated() {
        preconditionInLoop()
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
