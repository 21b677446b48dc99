import Reactor

/// The HTTP/1.1 connections of one loop between two requests, and when they park
/// (``HTTPServerConnection``). Two kinds:
/// - **Waiting** for the next request in a task of their own, longest waiting first. A wait
///   that has lasted ``HTTPServerConfiguration/parkingDelay`` ends at the next sweep, as does
///   one whose idle deadline has passed; a connection that finds
///   ``HTTPServerConfiguration/maxIdleTasksPerLoop`` waiting already parks at once, without
///   waiting. Why the bound: a burst of new connections would otherwise keep a task each (a few
///   KiB of frames) until the delay passes, and the heap stays as large as that burst made it.
///   Why the newcomer parks rather than the longest waiting one: its task ends before the loop
///   runs the next one, so its frames are reused at once, whereas a wait ended elsewhere
///   resumes only after every task the loop had already queued (a burst's new connections).
///   Their waits have no read deadline of their own: the sweep keeps it.
/// - **Parked**, without a task, soonest idle deadline first: the socket calls the connection
///   back on readiness, close or the loop's end (``TCPSocket/whenReadable(notifying:)``), and
///   the sweep wakes it at its idle deadline. So a parked connection costs no timer (a timer
///   handle, its closure and its heap entry per connection) and no closure.
///
/// One timer per loop for both: every sweep interval while any connection waits, else at the
/// earliest parked deadline. An idle deadline is kept to within a sweep interval (the parking
/// delay, or the idle timeout when that is shorter) while its connection waits in a task, and
/// exactly while it is parked.
///
/// The lists are intrusive, through the connections' `olderIdle`/`newerIdle` links (a
/// connection is in one list at most; ``IdleChain``, ``ParkedIdleNodes``): joining and leaving
/// cost a few stores, no allocation and no reference counting (the links are `Unmanaged`,
/// followed with `_withUnsafeGuaranteedRef`; an `unowned(unsafe)` link, read into a local, is
/// retained). A waiting connection is held by its task, a parked one by its socket's callback
/// and the server's table; each leaves its list before either lets go. Loop-only.
final class IdleWaitQueue {
    let loop: EventLoop
    /// How long a wait lasts before the sweep ends it (ns).
    let parkingDelay: UInt64
    /// How many may wait at once; one more parks at once.
    let capacity: Int
    /// Runs a parked connection again (in a new task): set by the server.
    var wake: ((HTTPServerConnection) -> Void)?
    private var waiting = IdleChain<HTTPServerConnection>()
    private var parked = ParkedIdleNodes<HTTPServerConnection>()
    private(set) var count = 0
    private var sweep: TimerHandle?
    /// When ``sweep`` fires; `.max` when none is scheduled.
    private var sweepAt = UInt64.max
    private let sweepInterval: UInt64

    init(loop: EventLoop, parkingDelay: UInt64, capacity: Int, idleTimeout: UInt64) {
        self.loop = loop
        self.parkingDelay = parkingDelay
        self.capacity = max(1, capacity)
        sweepInterval = max(min(parkingDelay, idleTimeout), 1_000_000)
    }

    /// `connection` begins to wait for its next request, in its task, as the newest; false
    /// when ``capacity`` wait already: it parks now instead (it is not in the list).
    func join(_ connection: HTTPServerConnection) -> Bool {
        guard count < capacity else { return false }
        let now = loop.now
        connection.idleWaitStarted = now
        connection.idleMembership = .waiting
        waiting.append(.passUnretained(connection))
        count += 1
        if sweepAt > now &+ sweepInterval { scheduleSweep() }
        return true
    }

    /// `connection`'s wait ended (or the sweep ended it); nothing if it is not waiting.
    func leave(_ connection: HTTPServerConnection) {
        guard connection.idleMembership == .waiting else { return }
        connection.idleMembership = .none
        waiting.remove(connection)
        count -= 1
    }

    /// `connection` parked (its task is ending) on `socket`: no task and no timer until the
    /// socket calls it back or the sweep wakes it at its idle deadline; then ``wake``.
    func park(_ connection: HTTPServerConnection, on socket: TCPSocket) {
        if connection.idleDeadline == nil { connection.idleDeadline = loop.now }
        parked.insert(connection)
        if connection.idleDeadline ?? 0 < sweepAt { scheduleSweep() }
        // The sweep keeps the deadline: the socket holds no timer.
        socket.readDeadline = nil
        socket.cancelDeadlineTimers()
        socket.whenReadable(notifying: connection)
    }

    /// A parked connection's wait ended: out of its list, and run again.
    func socketReadWaitEnded(_ connection: HTTPServerConnection) {
        parked.remove(connection)
        wake?(connection)
    }

    private func scheduleSweep() {
        let now = loop.now
        var next = waiting.first == nil ? UInt64.max : now &+ sweepInterval
        if let deadline = parked.earliestDeadline { next = min(next, deadline) }
        guard next != .max, next < sweepAt else { return }
        sweep?.cancel()
        sweepAt = next
        sweep = loop.schedule0(after: .nanoseconds(Int64(clamping: next > now ? next - now : 0))) { [self] in
            sweep = nil
            sweepAt = .max
            sweepNow()
            scheduleSweep()
        }
    }

    private func sweepNow() {
        let now = loop.now
        // Waits that began by this moment have lasted the delay; the list is in the order the
        // waits began, so the first younger one (whose deadline has not passed) ends the walk.
        let startedBy = now &- parkingDelay
        while let longest = waiting.first,
            longest._withUnsafeGuaranteedRef({ $0.idleWaitStarted <= startedBy || $0.idleDeadline ?? 0 <= now })
        {
            let connection = longest.takeUnretainedValue()
            leave(connection)
            connection.watchedSocket?.endReadWait()
        }
        while let connection = parked.removeExpired(now: now) {
            // Its callback finds it out of the list already, and runs it: it times out.
            connection.watchedSocket?.endReadWait()
        }
    }
}

/// Which of ``IdleWaitQueue``'s lists a connection is in.
enum IdleMembership: UInt8 {
    case none, waiting, parkedFirst, parkedSecond
}

/// What ``IdleChain`` links: a connection (tests use a stand-in).
protocol IdleNode: AnyObject {
    var olderIdle: Unmanaged<Self>? { get set }
    var newerIdle: Unmanaged<Self>? { get set }
    var idleMembership: IdleMembership { get set }
    /// When its idle wait ends; the parked lists' order.
    var idleDeadline: UInt64? { get }
}

/// A doubly linked list through its nodes' links, oldest first. The nodes are not retained:
/// each is held elsewhere for as long as it is in the list.
struct IdleChain<Node: IdleNode> {
    typealias Link = Unmanaged<Node>
    private(set) var first: Link?
    private(set) var last: Link?

    var firstDeadline: UInt64? { first.map { $0._withUnsafeGuaranteedRef { $0.idleDeadline ?? 0 } } }
    var lastDeadline: UInt64? { last.map { $0._withUnsafeGuaranteedRef { $0.idleDeadline ?? 0 } } }

    mutating func append(_ link: Link) {
        link._withUnsafeGuaranteedRef {
            $0.olderIdle = last
            $0.newerIdle = nil
        }
        if let last { last._withUnsafeGuaranteedRef { $0.newerIdle = link } } else { first = link }
        last = link
    }

    /// Inserts `link` after the last node whose idle deadline is no later than its own.
    mutating func insertInDeadlineOrder(_ link: Link) {
        let deadline = link._withUnsafeGuaranteedRef { $0.idleDeadline ?? 0 }
        var older = last
        while let candidate = older, candidate._withUnsafeGuaranteedRef({ $0.idleDeadline ?? 0 > deadline }) {
            older = candidate._withUnsafeGuaranteedRef { $0.olderIdle }
        }
        let newer = older.map { $0._withUnsafeGuaranteedRef { $0.newerIdle } } ?? first
        link._withUnsafeGuaranteedRef {
            $0.olderIdle = older
            $0.newerIdle = newer
        }
        if let older { older._withUnsafeGuaranteedRef { $0.newerIdle = link } } else { first = link }
        if let newer { newer._withUnsafeGuaranteedRef { $0.olderIdle = link } } else { last = link }
    }

    mutating func remove(_ node: Node) {
        let older = node.olderIdle
        let newer = node.newerIdle
        if let older { older._withUnsafeGuaranteedRef { $0.newerIdle = newer } } else { first = newer }
        if let newer { newer._withUnsafeGuaranteedRef { $0.olderIdle = older } } else { last = older }
        node.olderIdle = nil
        node.newerIdle = nil
    }
}

/// Parked nodes, each of two lists in idle-deadline order, so that parking costs O(1) when
/// nodes park in the two usual orders at once: those that park as their wait begins
/// (deadlines now + idle timeout, the latest yet) and those the sweep parks (deadlines in the
/// order their waits began, earlier). A node goes to the end of the list whose last deadline
/// is the latest one not after its own; one earlier than both (woken without a request, its
/// deadline kept) is inserted in order from the back.
struct ParkedIdleNodes<Node: IdleNode> {
    private var lists = (IdleChain<Node>(), IdleChain<Node>())

    var earliestDeadline: UInt64? {
        switch (lists.0.firstDeadline, lists.1.firstDeadline) {
        case (let first?, let second?): min(first, second)
        case (let first, let second): first ?? second
        }
    }

    mutating func insert(_ node: Node) {
        let deadline = node.idleDeadline ?? 0
        let link = Unmanaged.passUnretained(node)
        let (first, second) = (lists.0.lastDeadline, lists.1.lastDeadline)
        let fitsFirst = first.map { $0 <= deadline } ?? true
        let fitsSecond = second.map { $0 <= deadline } ?? true
        if fitsFirst && (!fitsSecond || first ?? 0 >= second ?? 0) {
            node.idleMembership = .parkedFirst
            lists.0.append(link)
        } else {
            node.idleMembership = .parkedSecond
            if fitsSecond { lists.1.append(link) } else { lists.1.insertInDeadlineOrder(link) }
        }
    }

    /// Takes `node` out; nothing if it is not parked.
    mutating func remove(_ node: Node) {
        switch node.idleMembership {
        case .parkedFirst: lists.0.remove(node)
        case .parkedSecond: lists.1.remove(node)
        case .none, .waiting: return
        }
        node.idleMembership = .none
    }

    /// Takes out and returns a node whose deadline is no later than `now`, if any.
    mutating func removeExpired(now: UInt64) -> Node? {
        for list in 0..<2 {
            let first = list == 0 ? lists.0.first : lists.1.first
            guard let first, first._withUnsafeGuaranteedRef({ $0.idleDeadline ?? 0 <= now }) else { continue }
            let node = first.takeUnretainedValue()
            remove(node)
            return node
        }
        return nil
    }

    /// The deadlines of each list, in list order (tests).
    var deadlines: ([UInt64], [UInt64]) {
        func walk(_ chain: IdleChain<Node>) -> [UInt64] {
            var result: [UInt64] = []
            var link = chain.first
            while let current = link {
                result.append(current._withUnsafeGuaranteedRef { $0.idleDeadline ?? 0 })
                link = current._withUnsafeGuaranteedRef { $0.newerIdle }
            }
            return result
        }
        return (walk(lists.0), walk(lists.1))
    }
}
