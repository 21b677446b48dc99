import Reactor

/// The HTTP/1.1 connections of one loop that wait for their next request in a task of their
/// own, longest waiting first; it decides when they park (``HTTPServerConnection``): a wait
/// that has lasted ``HTTPServerConfiguration/parkingDelay`` ends at the next sweep (one timer
/// per loop, every delay, while anyone waits), and a connection that finds
/// ``HTTPServerConfiguration/maxIdleTasksPerLoop`` waiting already parks at once, without
/// waiting. Why the bound: a burst of new connections would otherwise keep a task each (a few
/// KiB of frames) until the delay passes, and the heap stays as large as that burst made it.
/// Why the newcomer parks rather than the longest waiting one: its task ends before the loop
/// runs the next one, so its frames are reused at once, whereas a wait ended elsewhere resumes
/// only after every task the loop had already queued (a burst's new connections) has run.
///
/// An intrusive list through the connections: joining and leaving cost a few stores, no
/// allocation and no reference counting (the links are `Unmanaged`, followed with
/// `_withUnsafeGuaranteedRef`; an `unowned(unsafe)` link, read into a local, is retained). A
/// connection is in the list only while its task waits in ``HTTPServerConnection`` (which
/// holds it), and leaves it when that wait ends, however it ends. Loop-only.
final class IdleWaitQueue {
    typealias Link = Unmanaged<HTTPServerConnection>

    let loop: EventLoop
    /// How long a wait lasts before the sweep ends it (ns).
    let parkingDelay: UInt64
    /// How many may wait at once; one more parks at once.
    let capacity: Int
    private var oldest: Link?
    private var newest: Link?
    private(set) var count = 0
    private var sweep: TimerHandle?
    private let sweepInterval: Duration

    init(loop: EventLoop, parkingDelay: UInt64, capacity: Int) {
        self.loop = loop
        self.parkingDelay = parkingDelay
        self.capacity = max(1, capacity)
        sweepInterval = .nanoseconds(Int64(clamping: max(parkingDelay, 1_000_000)))
    }

    /// `connection` begins to wait for its next request, in its task, as the newest; false
    /// when ``capacity`` wait already: it parks now instead (it is not in the list).
    func join(_ connection: HTTPServerConnection) -> Bool {
        guard count < capacity else { return false }
        let link = Link.passUnretained(connection)
        connection.idleWaitStarted = loop.now
        connection.olderIdle = newest
        connection.newerIdle = nil
        if let newest { newest._withUnsafeGuaranteedRef { $0.newerIdle = link } } else { oldest = link }
        newest = link
        count += 1
        if sweep == nil { scheduleSweep() }
        return true
    }

    /// `connection`'s wait ended (or the queue ended it); nothing if it is not in the list.
    func leave(_ connection: HTTPServerConnection) {
        guard connection.idleWaitStarted != 0 else { return }
        connection.idleWaitStarted = 0
        let older = connection.olderIdle
        let newer = connection.newerIdle
        if let older { older._withUnsafeGuaranteedRef { $0.newerIdle = newer } } else { oldest = newer }
        if let newer { newer._withUnsafeGuaranteedRef { $0.olderIdle = older } } else { newest = older }
        connection.olderIdle = nil
        connection.newerIdle = nil
        count -= 1
    }

    /// Takes `link` out of the list and ends its wait: the connection parks.
    private func endWait(_ link: Link) {
        let connection = link.takeUnretainedValue()
        leave(connection)
        connection.watchedSocket?.endReadWait()
    }

    private func scheduleSweep() {
        sweep = loop.schedule0(after: sweepInterval) { [self] in
            sweep = nil
            // Waits that began by this moment have lasted the delay; the list is in the order
            // the waits began, so the first younger one ends the sweep.
            let startedBy = loop.now &- parkingDelay
            while let longest = oldest, longest._withUnsafeGuaranteedRef({ $0.idleWaitStarted }) <= startedBy {
                endWait(longest)
            }
            if count > 0 { scheduleSweep() }
        }
    }
}
