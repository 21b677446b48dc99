import Reactor

/// One virtual user's connection: sends requests one at a time and never throws, because a
/// failure is a measurement (``LoadResult/error``), not a reason to stop the run.
///
/// Loop-bound and not `Sendable`: an executor is made by ``LoadTarget/makeExecutor(on:)``
/// inside the task that uses it, on that task's loop, and never leaves it.
public protocol RequestExecutor: AnyObject {
    /// Sends `request` and waits for its whole response (or a failure).
    func send(_ request: LoadRequest) async -> LoadResult
    /// Closes the connection, if any; the executor is not used afterwards.
    func close()
}

/// What the load generator points at: a factory of executors, one per virtual user.
///
/// This is the seam between the generator and HTTP: ``HTTP1Target`` speaks HTTP/1.1 over
/// our own sockets today; the shared HTTP client can conform as well and be chosen instead.
public protocol LoadTarget: Sendable {
    /// Makes an executor bound to `loop`; it connects lazily, on its first request.
    func makeExecutor(on loop: EventLoop) -> any RequestExecutor
}
