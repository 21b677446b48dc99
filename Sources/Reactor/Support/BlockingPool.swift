import CLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A few threads for work that blocks or burns CPU (scrypt, getaddrinfo), so that it
/// never runs on an event loop.
public final class BlockingPool: @unchecked Sendable {
    /// A pool shared by the process, two threads by default.
    public static let shared = BlockingPool(threadCount: 2)

    // Lock rule: `queue`, `isShutdown` are guarded by `mutex`; `condition` signals changes.
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var queue = RingBuffer<@Sendable () -> Void>()
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
    public func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws -> T {
        try Task.checkCancellation()
        let job = CancellableJob<T>()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
                guard job.attach(continuation) else { return continuation.resume(throwing: CancellationError()) }
                submit {
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

    /// Queues `job` for a pool thread. Any thread.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(&mutex)
        queue.append(job)
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
            while queue.isEmpty && !isShutdown { pthread_cond_wait(&condition, &mutex) }
            let job = queue.popFirst()
            pthread_mutex_unlock(&mutex)
            guard let job else { return }
            job()
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
