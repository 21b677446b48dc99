import Reactor
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Holds a ``BlockingPool`` thread until released, so that a test can keep jobs queued
/// behind it (a password check waiting for a thread) for as long as it needs.
///
/// It lets go by itself after `limit`, so that a test whose expectation fails ends rather
/// than hangs. Any thread.
public final class BlockingPoolGate: Sendable {
    private let released = Atomic<Bool>(false)
    private let held = Atomic<Bool>(false)
    private let letGo = Atomic<Bool>(false)
    public let limit: Duration

    public init(limit: Duration) { self.limit = limit }

    /// Queues a job on `pool` that holds its thread (see ``hold()``).
    public func close(_ pool: BlockingPool) { pool.submit { self.hold() } }

    /// Blocks the calling (pool) thread until ``release()`` or `limit`.
    public func hold() {
        held.store(true, ordering: .releasing)
        let deadline = ContinuousClock.now.advanced(by: limit)
        while !released.load(ordering: .acquiring), ContinuousClock.now < deadline { usleep(1000) }
        letGo.store(true, ordering: .releasing)
    }

    public func release() { released.store(true, ordering: .releasing) }
    /// Whether a thread is held (or was: see ``hasLetGo``).
    public var isHeld: Bool { held.load(ordering: .acquiring) }
    /// Whether the held thread is free again (released, or `limit` passed).
    public var hasLetGo: Bool { letGo.load(ordering: .acquiring) }
}
