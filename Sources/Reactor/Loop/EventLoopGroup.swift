import CLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `LOOPS` event loops, one thread each (default: one per core).
///
/// Create one per process, at start; ``shutdown()`` stops the loops and joins their threads.
///
/// With one loop per CPU (the default) each loop's thread is pinned to its own CPU (see
/// ``LoopAffinity``), so that a server can ask the kernel to accept each connection on
/// the loop of the CPU that handles its packets (``TCPListener/steerByCPU(_:cpus:)``).
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    /// The CPU each loop's thread is pinned to, by loop index; nil when the threads float
    /// (``LoopAffinity/none``, or a loop count other than the CPUs this process may use).
    public let pinnedCPUs: [Int]?
    private let threads: Mutex<[pthread_t]>
    private let nextIndex = Atomic<Int>(0)

    /// The number of cores this process may run on (``LoopAffinity/allowedCPUs()``), at least 1.
    public static var coreCount: Int {
        let available = LoopAffinity.allowedCPUs().count
        if available > 0 { return available }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Starts `loopCount` loop threads. Blocks SIGPIPE process-wide first: a write to a
    /// closed socket must fail with EPIPE, not kill the process.
    /// - Parameter affinity: whether to pin one loop per CPU (``LoopAffinity/automatic``).
    public init(loopCount: Int = EventLoopGroup.coreCount, affinity: LoopAffinity = .automatic) throws(IOError) {
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
        self.pinnedCPUs = affinity.pin(threads)
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

/// Whether an ``EventLoopGroup`` pins its loop threads to CPUs.
///
/// Why pin: a loop per CPU, each connection accepted by the loop of the CPU that handles
/// its packets, keeps a connection's socket, its wake-ups and its task on one CPU's caches;
/// on loopback that CPU is the client's, so a client thread and the loop serving it take
/// turns on one core instead of waking each other across two. The cost: a pinned loop
/// cannot move away from a CPU that something else keeps busy (set `LOOP_AFFINITY=off`).
public enum LoopAffinity: Sendable, Equatable {
    /// Pin loop i to the i-th CPU this process may run on, when there is exactly one loop
    /// per such CPU; otherwise leave the threads to the scheduler.
    case automatic
    /// Never pin.
    case none

    /// Parses a `LOOP_AFFINITY` setting: `auto` or `off`; nil for anything else.
    public init?(setting: String) {
        switch setting.lowercased() {
        case "auto": self = .automatic
        case "off": self = .none
        default: return nil
        }
    }

    /// The CPUs to pin `threads` to, one each in order, or nil to leave them floating.
    static func cpus(forLoops loopCount: Int, allowed: [Int], affinity: LoopAffinity) -> [Int]? {
        guard affinity == .automatic, loopCount > 1, allowed.count == loopCount else { return nil }
        return allowed
    }

    /// Pins `threads` as ``cpus(forLoops:allowed:affinity:)`` says; the CPUs, or nil when
    /// nothing was pinned (also when the kernel refused one: then none stays pinned).
    fileprivate func pin(_ threads: [pthread_t]) -> [Int]? {
        guard let cpus = Self.cpus(forLoops: threads.count, allowed: Self.allowedCPUs(), affinity: self) else {
            return nil
        }
        for (thread, cpu) in zip(threads, cpus) where CLinux_pin_thread(thread, Int32(cpu)) != 0 {
            for thread in threads { _ = CLinux_unpin_thread(thread) }
            return nil
        }
        return cpus
    }

    /// The CPUs this process may run on, in ascending order (sched_getaffinity).
    public static func allowedCPUs() -> [Int] {
        cpuList { CLinux_allowed_cpus($0, $1) }
    }

    /// The CPUs `thread` may run on, for tests and diagnostics.
    public static func cpus(of thread: pthread_t) -> [Int] {
        cpuList { CLinux_thread_cpus(thread, $0, $1) }
    }

    /// Runs a CLinux call that fills an array of CPU numbers and returns how many.
    private static func cpuList(_ fill: (UnsafeMutablePointer<Int32>, Int32) -> Int32) -> [Int] {
        let capacity = 1024  // CPU_SETSIZE, a macro
        let numbers = [Int32](unsafeUninitializedCapacity: capacity) { buffer, count in
            // The call writes at most `capacity` numbers into the buffer it is given.
            let written = buffer.baseAddress.map { fill($0, Int32(capacity)) } ?? -1
            count = max(0, Int(written))
        }
        return numbers.map(Int.init)
    }
}
