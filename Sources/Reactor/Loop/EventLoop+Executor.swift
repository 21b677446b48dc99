/// The loop as a Swift executor: actors whose `unownedExecutor` is the loop and tasks
/// created with `Task(executorPreference: loop)` run their jobs on the loop's thread.
extension EventLoop: SerialExecutor, TaskExecutor {
    /// Called by the Swift runtime from any thread. A job enqueued from the loop itself
    /// (the usual case: a continuation resumed by an epoll handler) costs no wake-up.
    public func enqueue(_ job: consuming ExecutorJob) {
        enqueue(.task(UnownedJob(job)))
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    public func checkIsolated() {
        preconditionInLoop()
    }
}
