import Reactor

/// The HTTP/1.1 connections of one loop that wait for their next request in a task of their
/// own, longest waiting first; it decides when they park (``HTTPServerConnection``): a wait
/// that has lasted ``HTTPServerConfiguration/parkingDelay`` ends at the next sweep (one timer
/// per loop, every delay, while anyone waits), and when more than
/// ``HTTPServerConfiguration/maxIdleTasksPerLoop`` wait at once, the longest waiting one parks
/// at once. Why the bound: a burst of new connections would otherwise keep a task each (a few
/// KiB of frames) until the delay passes, and the heap stays as large as that burst made it.
///
/// An intrusive list through the connections: joining and leaving cost a few stores, no
/// allocation and no reference counting. The links are `unowned(unsafe)`: a connection is in
/// the list only while its task waits in ``HTTPServerConnection`` (which holds it), and leaves
/// it when that wait ends, however it ends. Loop-only.
final class IdleWaitQueue {
    let loop: EventLoop
    /// How long a wait lasts before the sweep ends it (ns).
    let parkingDelay: UInt64
    /// How many may wait at once before the longest waiting one parks.
    let capacity: Int
    private unowned(unsafe) var oldest: HTTPServerConnection?
    private unowned(unsafe) var newest: HTTPServerConnection?
    private(set) var count = 0
    private var sweep: TimerHandle?
    private let sweepInterval: Duration

    init(loop: EventLoop, parkingDelay: UInt64, capacity: Int) {
        self.loop = loop
        self.parkingDelay = parkingDelay
        self.capacity = max(1, capacity)
        sweepInterval = .nanoseconds(Int64(clamping: max(parkingDelay, 1_000_000)))
    }

    /// `connection` begins to wait for its next request, in its task, as the newest. When that
    /// makes one too many, the longest waiting one parks now.
    func join(_ connection: HTTPServerConnection) {
        connection.idleWaitStarted = loop.now
        connection.olderIdle = newest
        connection.newerIdle = nil
        if let newest { newest.newerIdle = connection } else { oldest = connection }
        newest = connection
        count += 1
        if count > capacity, let longest = oldest {
            leave(longest)
            longest.socket?.endReadWait()
        }
        if sweep == nil { scheduleSweep() }
    }

    /// `connection`'s wait ended (or the queue ended it); nothing if it is not in the list.
    func leave(_ connection: HTTPServerConnection) {
        guard connection.idleWaitStarted != 0 else { return }
        connection.idleWaitStarted = 0
        if let older = connection.olderIdle { older.newerIdle = connection.newerIdle } else { oldest = connection.newerIdle }
        if let newer = connection.newerIdle { newer.olderIdle = connection.olderIdle } else { newest = connection.olderIdle }
        connection.olderIdle = nil
        connection.newerIdle = nil
        count -= 1
    }

    /// The connections in the list, longest waiting first (tests).
    var waiting: [HTTPServerConnection] {
        var all: [HTTPServerConnection] = []
        var next = oldest
        while let connection = next {
            all.append(connection)
            next = connection.newerIdle
        }
        return all
    }

    private func scheduleSweep() {
        sweep = loop.schedule0(after: sweepInterval) { [self] in
            sweep = nil
            // Waits that began by this moment have lasted the delay; the list is in the order
            // the waits began, so the first younger one ends the sweep.
            let startedBy = loop.now &- parkingDelay
            while let longest = oldest, longest.idleWaitStarted <= startedBy {
                leave(longest)
                longest.socket?.endReadWait()
            }
            if count > 0 { scheduleSweep() }
        }
    }
}
