import CLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `LOOPS` event loops, one thread each (default: one per core).
///
/// Create one per process, at start; ``shutdown()`` stops the loops and joins their threads.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let threads: Mutex<[pthread_t]>
    private let nextIndex = Atomic<Int>(0)

    /// The number of cores this process may run on (sched_getaffinity), at least 1.
    public static var coreCount: Int {
        let available = Int(CLinux_available_cpus())
        if available > 0 { return available }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Starts `loopCount` loop threads. Blocks SIGPIPE process-wide first: a write to a
    /// closed socket must fail with EPIPE, not kill the process.
    public init(loopCount: Int = EventLoopGroup.coreCount) throws(IOError) {
        precondition(loopCount > 0, "an event loop group needs at least one loop")
        signal(SIGPIPE, SIG_IGN)
        var loops: [EventLoop] = []
        for index in 0..<loopCount { loops.append(try EventLoop(index: index)) }
        self.loops = loops
        var threads: [pthread_t] = []
        for loop in loops {
            let box = Unmanaged.passRetained(loop).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                // The loop was retained for the thread's start; released once it runs.
                guard let raw else { return nil }
                let loop = Unmanaged<EventLoop>.fromOpaque(raw).takeRetainedValue()
                loop.run()
                return nil
            }, box)
            precondition(rc == 0, "pthread_create failed: \(rc)")
            threads.append(thread)
        }
        self.threads = Mutex(threads)
        // Wait until every loop knows its thread, so that `inLoop` is right from now on.
        for loop in loops {
            while !loop.hasStarted { sched_yield() }
        }
    }

    /// The next loop in round-robin order, for work that has no loop of its own yet.
    public func next() -> EventLoop {
        loops[nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }

    /// The calling thread's loop if it is one of ours, else the next one.
    public func currentOrNext() -> EventLoop {
        if let current = EventLoop.current, loops.contains(where: { $0 === current }) { return current }
        return next()
    }

    /// Stops every loop and joins its thread. Must not be called from a loop thread.
    public func shutdown() {
        precondition(EventLoop.current == nil, "EventLoopGroup.shutdown() called on a loop thread")
        let toJoin = threads.withLock { threads -> [pthread_t] in
            let taken = threads
            threads = []
            return taken
        }
        for loop in loops { loop.stop() }
        for thread in toJoin { pthread_join(thread, nil) }
    }
}
