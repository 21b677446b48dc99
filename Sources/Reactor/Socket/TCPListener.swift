import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket on one loop.
///
/// Servers open one listener per loop on the same port with SO_REUSEPORT, so that the
/// kernel spreads new connections over the loops and no accept is ever shared; with the
/// loops pinned to CPUs, ``steerByCPU(_:cpus:)`` makes it spread them by CPU.
public final class TCPListener: LoopBound, @unchecked Sendable {
    public let loop: EventLoop
    public let fd: Int32
    /// The bound address (with the real port when 0 was asked for).
    public let localAddress: SocketAddress
    private var registration: IORegistration?
    private var mayAccept = true
    /// Set by ``closeAfterQueue()``: the queue is being emptied, then the listener closes.
    private var isClosing = false
    private var waiter: UnsafeContinuation<Void, any Error>?
    public private(set) var isClosed = false

    /// Binds and listens on `address`. Loop-only: call from a task on `loop`.
    public init(
        address: SocketAddress, on loop: EventLoop, backlog: Int32 = 1024, reusePort: Bool = true
    ) throws(IOError) {
        loop.preconditionInLoop()
        self.loop = loop
        let fd = Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw IOError.system("socket", errno: CLinux_errno()) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
        if address.withSockAddr({ Glibc.bind(fd, $0, $1) }) != 0 {
            let err = CLinux_errno()
            Glibc.close(fd)
            throw IOError.system("bind(\(address))", errno: err)
        }
        if Glibc.listen(fd, backlog) != 0 {
            let err = CLinux_errno()
            Glibc.close(fd)
            throw IOError.system("listen(\(address))", errno: err)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &storage) { pointer in
            // sockaddr_storage is large enough for any sockaddr the kernel writes back.
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> SocketAddress? in
                getsockname(fd, raw, &length) == 0 ? SocketAddress(raw) : nil
            }
        }
        self.fd = fd
        self.localAddress = bound ?? address
        do {
            registration = try loop.register0(fd: fd, interest: [.read, .edgeTriggered, .loopStopped]) {
                [unowned(unsafe) self] readiness in
                // unowned(unsafe): the registration is removed in close(), before self can go away.
                self.mayAccept = true
                if let waiter = self.waiter {
                    self.waiter = nil
                    if readiness.isLoopStopped {
                        waiter.resume(throwing: IOError(.loopStopped, operation: "accept"))
                    } else {
                        waiter.resume()
                    }
                }
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit {
        guard !isClosed else { return }
        if loop.inLoop || loop.hasExited {
            if let registration { loop.deregister0(registration) }
            Glibc.close(fd)
            return
        }
        // Released on another thread while the loop runs: the loop removes the registration
        // and closes the descriptor (see TCPSocket's deinit).
        let leftovers = Leftovers(loop: loop, registration: registration, fd: fd)
        leftovers.registration?.markReleased()
        loop.execute {
            if let registration = leftovers.registration { leftovers.loop.deregister0(registration) }
            Glibc.close(leftovers.fd)
        }
    }

    /// What a listener released off its loop leaves for the loop to clean up.
    private final class Leftovers: @unchecked Sendable {
        let loop: EventLoop
        let registration: IORegistration?
        let fd: Int32

        init(loop: EventLoop, registration: IORegistration?, fd: Int32) {
            self.loop = loop
            self.registration = registration
            self.fd = fd
        }
    }

    /// Waits for the next connection and adopts it on this listener's loop. Throws
    /// `.closed` once ``close()`` is called.
    public func accept() async throws -> TCPSocket {
        try await acceptConnection().adopt(on: loop)
    }

    /// Waits for the next connection and leaves it to the caller to adopt on a loop of its
    /// choice (``AcceptedConnection/adopt(on:)``), so that a server can hand it to a less
    /// busy loop. Throws `.closed` once ``close()`` is called.
    public func acceptConnection() async throws -> AcceptedConnection {
        assertOnLoop()
        while true {
            if isClosed { throw IOError(.closed, operation: "accept") }
            if mayAccept {
                var storage = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let accepted = withUnsafeMutablePointer(to: &storage) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> (Int32, SocketAddress?, Int32) in
                        let fd = CLinux_accept4_nonblocking(self.fd, raw, &length)
                        return (fd, fd >= 0 ? SocketAddress(raw) : nil, fd >= 0 ? 0 : CLinux_errno())
                    }
                }
                if accepted.0 >= 0 {
                    return AcceptedConnection(fd: accepted.0, remoteAddress: accepted.1)
                }
                switch accepted.2 {
                case EAGAIN where isClosing:
                    close()
                    throw IOError(.closed, operation: "accept")
                case EAGAIN:
                    mayAccept = false
                case EINTR, ECONNABORTED, EPROTO:
                    continue  // the connection died in the queue; take the next one
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: back off briefly instead of spinning on a full queue.
                    try await loop.sleep(for: .milliseconds(50))
                    continue
                default:
                    throw IOError.system("accept4", errno: accepted.2)
                }
            }
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                if isClosed {
                    continuation.resume(throwing: IOError(.closed, operation: "accept"))
                } else if loop.hasStopped {
                    continuation.resume(throwing: IOError(.loopStopped, operation: "accept"))
                } else {
                    waiter = continuation
                }
            }
        }
    }

    /// Connections waiting in the kernel's accept queue, not yet accepted. Any thread: a
    /// server's loops compare their loads with it. A figure for balancing, not for
    /// correctness: read during or after ``close()``, it may describe whatever reuses the
    /// descriptor number (or nothing, 0).
    public var queuedConnections: Int {
        max(0, Int(CLinux_accept_queue_length(fd)))
    }

    /// Asks the kernel to give each new connection to `listeners[i]` when the CPU that
    /// handles the connection's first packet is `cpus[i]`, and to fall back to its hash for
    /// any other CPU. Why: with loop i pinned to `cpus[i]` (``EventLoopGroup/pinnedCPUs``),
    /// a connection is then served on the CPU that receives its packets: the socket, the
    /// wake-ups and the task stay in one CPU's caches (on loopback that CPU is the client
    /// thread's). A classic BPF program on the SO_REUSEPORT group (SO_ATTACH_REUSEPORT_CBPF).
    ///
    /// - Parameter listeners: every listener of one SO_REUSEPORT group, open, in the order
    ///   they were created: the kernel numbers a group's sockets in the order they listened.
    /// - Throws: ``IOError`` when the kernel refuses the program; connections are then
    ///   spread by hash as before.
    public static func steerByCPU(_ listeners: [TCPListener], cpus: [Int]) throws(IOError) {
        precondition(listeners.count == cpus.count, "one CPU per listener")
        guard let first = listeners.first else { return }
        let numbers = cpus.map { Int32(truncatingIfNeeded: $0) }
        let result = numbers.withUnsafeBufferPointer { buffer in
            // The program is built from `count` numbers read from the buffer during the call.
            CLinux_steer_reuseport_by_cpu(first.fd, buffer.baseAddress, Int32(buffer.count))
        }
        if result != 0 { throw IOError.system("setsockopt(SO_ATTACH_REUSEPORT_CBPF)", errno: CLinux_errno()) }
    }

    /// Stops listening without dropping what the kernel has already queued: the backlog
    /// shrinks to nothing (new handshakes are no longer queued: their clients retry and then
    /// find the port closed), ``acceptConnection()`` returns the connections still queued,
    /// then closes the listener and throws `.closed`. Why: closing a listener resets the
    /// connections in its queue, whose clients have already sent their requests — a
    /// draining server answers them instead. Loop-only. Idempotent.
    public func closeAfterQueue() {
        assertOnLoop()
        guard !isClosed, !isClosing else { return }
        isClosing = true
        _ = Glibc.listen(fd, 0)
        mayAccept = true
        if let waiter {
            self.waiter = nil
            waiter.resume()
        }
    }

    /// Stops listening; a waiting ``accept()`` throws `.closed`. Loop-only. Idempotent.
    public func close() {
        assertOnLoop()
        guard !isClosed else { return }
        isClosed = true
        if let registration { loop.deregister0(registration) }
        registration = nil
        Glibc.close(fd)
        if let waiter {
            self.waiter = nil
            waiter.resume(throwing: IOError(.closed, operation: "accept"))
        }
    }
}

/// A connection taken from a listener's queue that no loop owns yet: a non-blocking
/// descriptor and the peer's address. Adopt it on exactly one loop, or close it.
public struct AcceptedConnection: Sendable {
    let fd: Int32
    public let remoteAddress: SocketAddress?

    /// Registers the connection with `loop`, which serves it from now on. Call on that
    /// loop's thread. The descriptor is closed if the registration fails.
    public func adopt(on loop: EventLoop) throws(IOError) -> TCPSocket {
        try TCPSocket(adopting: fd, loop: loop, remoteAddress: remoteAddress)
    }

    /// Closes a connection nobody will serve (over a cap, say).
    public func close() {
        Glibc.close(fd)
    }
}
