import CLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The epoll flags as plain integers (Glibc imports them as structs).
enum Epoll {
    static let EPOLLIN = UInt32(CLinux.EPOLLIN.rawValue)
    static let EPOLLOUT = UInt32(CLinux.EPOLLOUT.rawValue)
    static let EPOLLERR = UInt32(CLinux.EPOLLERR.rawValue)
    static let EPOLLHUP = UInt32(CLinux.EPOLLHUP.rawValue)
    static let EPOLLRDHUP = UInt32(CLinux.EPOLLRDHUP.rawValue)
    static let EPOLLET = UInt32(CLinux.EPOLLET.rawValue)
}

/// The readiness a registration asks epoll for.
public struct IOInterest: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let read = IOInterest(rawValue: 1 << 0)
    public static let write = IOInterest(rawValue: 1 << 1)
    /// Edge-triggered: one event per change of state. Sockets that the reactor drains
    /// itself use it (no `epoll_ctl` per wait); libpq and hiredis need level-triggered.
    public static let edgeTriggered = IOInterest(rawValue: 1 << 2)
    /// Not an epoll flag: the handler is called once more, with ``IOReadiness/isLoopStopped``,
    /// when the loop stops (sockets fail their waiters then).
    public static let loopStopped = IOInterest(rawValue: 1 << 3)

    var epollEvents: UInt32 {
        var events: UInt32 = Epoll.EPOLLRDHUP
        if contains(.read) { events |= Epoll.EPOLLIN }
        if contains(.write) { events |= Epoll.EPOLLOUT }
        if contains(.edgeTriggered) { events |= Epoll.EPOLLET }
        return events
    }
}

/// What epoll reported for one descriptor.
public struct IOReadiness: Sendable, Hashable {
    public let rawEvents: UInt32

    public var isReadable: Bool { rawEvents & (Epoll.EPOLLIN | Epoll.EPOLLHUP | Epoll.EPOLLERR | Epoll.EPOLLRDHUP) != 0 }
    public var isWritable: Bool { rawEvents & (Epoll.EPOLLOUT | Epoll.EPOLLHUP | Epoll.EPOLLERR) != 0 }
    /// The peer shut down its side (FIN), hung up, or the socket has an error: reads
    /// will end in 0 or an error, and no further edge will announce it.
    public var isPeerClosed: Bool { rawEvents & (Epoll.EPOLLRDHUP | Epoll.EPOLLHUP | Epoll.EPOLLERR) != 0 }

    /// The peer hung up or the socket has an error; reads will return 0 or fail.
    public var isHangUp: Bool { rawEvents & (Epoll.EPOLLHUP | Epoll.EPOLLERR) != 0 }

    /// Not from epoll: the loop stopped, and no event will come any more. Handlers that
    /// keep waiters fail them (``IOError/Code/loopStopped``) instead of leaving them hanging.
    public var isLoopStopped: Bool { rawEvents & Self.loopStoppedBit != 0 }

    /// A bit epoll never reports (EPOLLONESHOT, a request flag).
    private static let loopStoppedBit: UInt32 = 1 << 30
    static let loopStopped = IOReadiness(rawEvents: loopStoppedBit)
}

/// A descriptor registered with one loop's epoll, and the handler its events go to.
///
/// Loop-bound: create, change and drop it only on its loop's thread.
public final class IORegistration {
    public let fd: Int32
    public private(set) var interest: IOInterest
    var handler: (IOReadiness) -> Void
    /// Index in the loop's registration table; with `generation` it forms the epoll data,
    /// so that an event for a slot reused by a newer descriptor is recognised and dropped
    /// (the role of NIO's `SelectorRegistrationID` and nginx's instance bit).
    let slot: Int
    let generation: UInt32
    var isActive = true
    /// Set, from any thread, when the owner was released off the loop before it could
    /// deregister: its handler must not run again (the loop deregisters it soon).
    private let released = Atomic<Bool>(false)

    var isReleased: Bool { released.load(ordering: .acquiring) }

    /// Marks the registration's owner as gone. Any thread.
    func markReleased() { released.store(true, ordering: .releasing) }

    init(fd: Int32, interest: IOInterest, slot: Int, generation: UInt32, handler: @escaping (IOReadiness) -> Void) {
        self.fd = fd
        self.interest = interest
        self.slot = slot
        self.generation = generation
        self.handler = handler
    }

    var epollData: UInt64 { UInt64(slot) | (UInt64(generation) << 32) }

    func updateInterest(_ interest: IOInterest) { self.interest = interest }
}

/// The loop's epoll instance and its table of registrations.
final class Selector {
    let epollFD: Int32
    private var registrations: [IORegistration?] = []
    private var generations: [UInt32] = []
    private var freeSlots: [Int] = []
    private var events: [epoll_event]

    init(maxEventsPerPoll: Int = 256) throws(IOError) {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        if fd < 0 { throw IOError.system("epoll_create1", errno: CLinux_errno()) }
        epollFD = fd
        events = Array(repeating: epoll_event(), count: maxEventsPerPoll)
    }

    func register(
        fd: Int32, interest: IOInterest, handler: @escaping (IOReadiness) -> Void
    ) throws(IOError) -> IORegistration {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = registrations.count
            registrations.append(nil)
            generations.append(0)
        }
        generations[slot] &+= 1
        let registration = IORegistration(
            fd: fd, interest: interest, slot: slot, generation: generations[slot], handler: handler)
        var event = epoll_event()
        event.events = interest.epollEvents
        event.data.u64 = registration.epollData
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) != 0 {
            freeSlots.append(slot)
            throw IOError.system("epoll_ctl(ADD)", errno: CLinux_errno())
        }
        registrations[slot] = registration
        return registration
    }

    func reregister(_ registration: IORegistration, interest: IOInterest) throws(IOError) {
        guard registration.isActive, registration.interest != interest else { return }
        var event = epoll_event()
        event.events = interest.epollEvents
        event.data.u64 = registration.epollData
        if epoll_ctl(epollFD, EPOLL_CTL_MOD, registration.fd, &event) != 0 {
            throw IOError.system("epoll_ctl(MOD)", errno: CLinux_errno())
        }
        registration.updateInterest(interest)
    }

    /// Removes the descriptor from epoll. Call before closing it.
    func deregister(_ registration: IORegistration) {
        guard registration.isActive else { return }
        registration.isActive = false
        var event = epoll_event()
        // Failure means the fd is already gone from the interest list; nothing to undo.
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, registration.fd, &event)
        registrations[registration.slot] = nil
        freeSlots.append(registration.slot)
    }

    /// Waits up to `timeoutMilliseconds` (-1 = forever) and calls the handler of each ready descriptor.
    func poll(timeoutMilliseconds: Int32) throws(IOError) {
        let count = events.withUnsafeMutableBufferPointer { buffer in
            epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
        }
        if count < 0 {
            let err = CLinux_errno()
            if err == EINTR { return }
            throw IOError.system("epoll_wait", errno: err)
        }
        for index in 0..<Int(count) {
            let event = events[index]
            let slot = Int(event.data.u64 & 0xFFFF_FFFF)
            let generation = UInt32(truncatingIfNeeded: event.data.u64 >> 32)
            // A handler earlier in this batch may have closed this descriptor, and a new
            // one may even sit in the same slot: drop events whose generation is stale.
            guard slot < registrations.count, let registration = registrations[slot],
                registration.generation == generation, !registration.isReleased
            else { continue }
            registration.handler(IOReadiness(rawEvents: event.events))
        }
    }

    /// Tells every registration's handler that the loop stopped (``IOReadiness/isLoopStopped``).
    func loopStopped() {
        for case let registration? in registrations
        where registration.isActive && !registration.isReleased && registration.interest.contains(.loopStopped) {
            registration.handler(.loopStopped)
        }
    }

    func close() { _ = Glibc.close(epollFD) }
}
