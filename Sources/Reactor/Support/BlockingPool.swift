import CLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A few threads for work that blocks or burns CPU (scrypt, getaddrinfo), so that it
/// never runs on an event loop.
///
/// Jobs are queued in lanes (``Lane``), served in turn (``FairJobQueue``): a caller that
/// queues many jobs in its own lane delays a job of another lane by at most one of them.
/// Jobs submitted without a lane share one.
public final class BlockingPool: @unchecked Sendable {
    /// A pool shared by the process, two threads by default.
    public static let shared = BlockingPool(threadCount: 2)

    /// Where a job queues: jobs of one lane run in their order, lanes take turns, and at
    /// most `maxRunning` jobs of a lane run at once.
    public struct Lane: Sendable, Hashable {
        public var name: String
        public var maxRunning: Int

        public init(_ name: String, maxRunning: Int = .max) {
            self.name = name
            self.maxRunning = max(1, maxRunning)
        }

        /// The lane of jobs submitted without one.
        public static let shared = Lane("")
    }

    // Lock rule: `queue`, `isShutdown` are guarded by `mutex`; `condition` signals changes.
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var queue = FairJobQueue<@Sendable () -> Void>()
    private var isShutdown = false
    public let threadCount: Int

    public init(threadCount: Int) {
        precondition(threadCount > 0)
        self.threadCount = threadCount
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for _ in 0..<threadCount {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(self).toOpaque()
            let rc = pthread_create(&thread, nil, { raw in
                guard let raw else { return nil }
                Unmanaged<BlockingPool>.fromOpaque(raw).takeRetainedValue().work()
                return nil
            }, box)
            precondition(rc == 0, "pthread_create failed: \(rc)")
            // A thread inherits its creator's CPU mask, and the shared pool is often made
            // by a loop thread pinned to one CPU: give the pool every CPU of the process.
            _ = CLinux_unpin_thread(thread)
            pthread_detach(thread)
        }
    }

    /// Runs `body` on a pool thread and returns its result to the awaiting task.
    ///
    /// A task cancelled before a thread takes its job gets `CancellationError` at once and
    /// the job is dropped: work for a caller that has gone (a client that disconnected while
    /// its password hash waited) costs no CPU. A job that has started runs to its end and
    /// its result is returned, cancelled or not: the pool cannot interrupt `body`.
    /// - Throws: `CancellationError`, or what `body` throws.
    public func run<T: Sendable, E: Error>(
        in lane: Lane = .shared, _ body: @escaping @Sendable () throws(E) -> T
    ) async throws -> T {
        try Task.checkCancellation()
        let job = CancellableJob<T>()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
                guard job.attach(continuation) else { return continuation.resume(throwing: CancellationError()) }
                submit(in: lane) {
                    guard let continuation = job.start() else { return }  // cancelled while queued
                    do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
                }
            }
        } onCancel: {
            job.cancel()?.resume(throwing: CancellationError())
        }
    }

    /// Jobs queued and not yet taken by a thread (dropped jobs included until a thread
    /// passes them).
    public var queuedJobs: Int {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return queue.count
    }

    /// Queues `job` for a pool thread, last in `lane`. Any thread.
    public func submit(in lane: Lane = .shared, _ job: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(&mutex)
        queue.append(job, lane: lane.name, maxRunning: lane.maxRunning)
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Lets the threads finish the queued jobs and exit.
    public func shutdown() {
        pthread_mutex_lock(&mutex)
        isShutdown = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    private func work() {
        while true {
            pthread_mutex_lock(&mutex)
            var next = queue.take()
            // Nothing to take: the queue is empty, or every lane with jobs is at its cap.
            while next == nil && !(isShutdown && queue.isEmpty) {
                pthread_cond_wait(&condition, &mutex)
                next = queue.take()
            }
            pthread_mutex_unlock(&mutex)
            guard let (job, lane) = next else { return }
            job()
            pthread_mutex_lock(&mutex)
            // A capped lane's job ended: a thread that found only that lane's jobs may take one.
            if queue.finished(lane: lane) { pthread_cond_broadcast(&condition) }
            pthread_mutex_unlock(&mutex)
        }
    }
}

/// Who resumes a ``BlockingPool/run(_:)`` caller: the thread that starts its job, or the
/// cancellation handler if it comes first; never both (the continuation leaves the state
/// exactly once, under the lock).
private final class CancellableJob<T: Sendable>: Sendable {
    private enum State {
        case created
        case waiting(UnsafeContinuation<T, any Error>)
        case started
        case cancelled
    }

    private let state = Mutex<State>(.created)

    /// Stores the caller's continuation; false if the task was cancelled first.
    func attach(_ continuation: UnsafeContinuation<T, any Error>) -> Bool {
        state.withLock { state in
            guard case .created = state else { return false }
            state = .waiting(continuation)
            return true
        }
    }

    /// On a pool thread: the continuation to resume with the result, or nil when the caller
    /// was cancelled meanwhile (the job is then dropped).
    func start() -> UnsafeContinuation<T, any Error>? {
        state.withLock { state in
            guard case .waiting(let continuation) = state else { return nil }
            state = .started
            return continuation
        }
    }

    /// The continuation to resume with `CancellationError` if the job has not started.
    func cancel() -> UnsafeContinuation<T, any Error>? {
        state.withLock { state in
            switch state {
            case .created:
                state = .cancelled
                return nil
            case .waiting(let continuation):
                state = .cancelled
                return continuation
            case .started, .cancelled:
                return nil
            }
        }
    }
}
