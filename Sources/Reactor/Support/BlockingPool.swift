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
    public func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws -> T {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
            submit {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
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
