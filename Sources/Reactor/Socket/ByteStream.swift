/// A connected, ordered byte stream bound to one event loop: a plain TCP socket or a
/// TLS session over one. The HTTP server and client speak to this, not to sockets, so
/// that TLS is a transport and nothing more.
///
/// Loop-bound (``LoopBound``): call every method from a task running on ``loop`` (a task
/// created with `Task(executorPreference: loop)` or inside `withTaskExecutorPreference(loop)`).
public protocol ByteStream: LoopBound, Sendable {
    /// Reads up to `buffer.count` bytes, waiting for at least one; returns 0 at end of stream.
    ///
    /// `buffer` is caller-owned memory that must stay valid until the call returns.
    /// - Throws: ``IOError`` (`.timedOut` when ``readDeadline`` passes, `.closed` after ``close()``,
    ///   `.cancelled` when the task is cancelled while it waits: see ``TCPSocket/waitUntilReadable()``).
    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int

    /// Writes all of `bytes`, waiting while the kernel's buffer is full: a slow reader
    /// slows the writer down rather than making anyone buffer without bound.
    /// - Throws: ``IOError``.
    func write(_ bytes: ArraySlice<UInt8>) async throws

    /// Takes `bytes` to send them at the end of the loop's current round of jobs, leaving an
    /// empty buffer (with the capacity of one the stream used before) in their place; returns
    /// false, taking nothing, when they must be written with ``write(_:)`` instead.
    ///
    /// Why: a send wakes the peer, and a woken peer on the same core can preempt the loop
    /// before it has run the rest of the round's tasks; sends made after the round make those
    /// tasks wait for no one. What the socket cannot take then is sent when it has room, and
    /// before the bytes of any later ``write(_:)``. A failure is reported by the next read or
    /// write.
    func sendAtEndOfRound(_ bytes: inout [UInt8]) -> Bool

    /// Waits until every byte handed to ``sendAtEndOfRound(_:)`` is in the kernel.
    func finishSends() async throws

    /// Whether the peer is known to have closed its side (or the connection failed), as epoll
    /// reported it even while nobody was reading: a pool does not lend out such a connection.
    var isPeerClosed: Bool { get }

    /// Called on the loop when ``isPeerClosed`` becomes true, as epoll reports it, even while
    /// nobody reads: the HTTP server stops the work of a client that has gone this way. At
    /// most once; cleared by ``close()``. A transport that cannot tell never calls it.
    var onPeerClosed: (() -> Void)? { get set }

    /// The socket whose next readiness edge brings this stream's next bytes, when the stream
    /// holds no received bytes of its own now (none decrypted or buffered, no read in
    /// progress); nil otherwise, or when the transport cannot tell. An owner with nothing to
    /// read may then stop reading and watch that socket instead (``TCPSocket/isKnownDrained``,
    /// ``TCPSocket/whenReadable(_:)``), holding no task: the HTTP server parks idle keep-alive
    /// connections so. A plain socket is its own.
    var socketToWatch: TCPSocket? { get }

    /// Monotonic deadline (ns, see ``monotonicNanoseconds()``) for reads; nil = none.
    var readDeadline: UInt64? { get set }
    /// Monotonic deadline for writes; nil = none.
    var writeDeadline: UInt64? { get set }

    /// The peer's address, when known.
    var remoteAddress: SocketAddress? { get }

    /// Closes the stream at once; waiting reads and writes fail with `.closed`. Idempotent.
    func close()

    /// Closes the stream after flushing what the transport holds (a TLS close_notify).
    func closeGracefully() async

    /// Closes the stream as nginx's lingering close does: the transport's goodbye (TLS
    /// close_notify), then a half-close (the peer reads end of stream), then whatever the
    /// peer still sends is read and dropped until it closes or `deadline` (monotonic ns)
    /// passes, then the close. Why: closing a socket with unread input makes the kernel
    /// send a reset, which can destroy a response the peer has not read yet. Waits for
    /// nothing else; send pending bytes first (``finishSends()``).
    func closeLingering(until deadline: UInt64) async

    /// Makes reads end: a waiting read, and every later one once the bytes already received
    /// are consumed, returns end of stream (0). Writing goes on. The server's drain ends an
    /// idle connection's wait for a request this way, so that the connection ends through
    /// its normal path (pending sends, close_notify) rather than a close in mid-send.
    func endReading()
}

extension ByteStream {
    /// Writes all of `bytes`.
    public func write(_ bytes: [UInt8]) async throws {
        try await write(bytes[...])
    }

    public func closeGracefully() async { close() }

    public func closeLingering(until deadline: UInt64) async { await closeGracefully() }

    /// A transport without an end-of-round send of its own writes now.
    public func sendAtEndOfRound(_ bytes: inout [UInt8]) -> Bool { false }

    public func finishSends() async throws {}

    public var isPeerClosed: Bool { false }

    public var socketToWatch: TCPSocket? { nil }

    public var onPeerClosed: (() -> Void)? {
        get { nil }
        set {}
    }
}
