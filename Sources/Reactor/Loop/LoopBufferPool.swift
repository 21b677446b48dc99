/// The byte buffers of one loop's connections, lent while bytes are on their way and given
/// back when a connection goes idle, so that an idle keep-alive connection holds none (as
/// nginx frees its request buffers between requests).
///
/// Two kinds: receive buffers of ``receiveBufferSize`` bytes (raw memory, for a connection's
/// reads) and byte arrays of at least ``arrayCapacity`` (a response being written, bytes
/// waiting for the socket). At most ``maxKept`` of each wait here for reuse; the rest go back
/// to the allocator, so the pool holds what the loop's busiest moment needed, bounded.
///
/// Loop-bound: used on the loop's thread. A call from another thread (a connection used off
/// its loop by mistake) does not touch the pool: it allocates, or frees, as if there were none.
/// `@unchecked Sendable` so that the loop can own it.
public final class LoopBufferPool: @unchecked Sendable {
    public static let receiveBufferSize = 16 * 1024
    public static let arrayCapacity = 4096
    /// Arrays grown past this (a large body) are not kept: one would pin that much memory.
    static let maxArrayCapacity = 64 * 1024
    static let maxKept = 64

    // Lock rule: none; only the owning loop's thread touches these.
    private var receiveBuffers: [UnsafeMutableRawBufferPointer] = []
    private var arrays: [[UInt8]] = []
    /// Receive buffers taken and not given back (one freed with its connection is not seen).
    public private(set) var receiveBuffersLent = 0
    /// Arrays taken minus arrays given back (an array from elsewhere given back counts too,
    /// so this is exact where every array comes from the pool).
    public private(set) var arraysLent = 0

    /// The owning loop, set by it once; unowned(unsafe): the loop owns the pool.
    unowned(unsafe) var loop: EventLoop!

    init() {}

    deinit {
        for buffer in receiveBuffers { buffer.deallocate() }
    }

    /// A receive buffer of ``receiveBufferSize`` bytes; give it back with ``recycle(_:)-(UnsafeMutableRawBufferPointer)``
    /// (or deallocate it).
    public func takeReceiveBuffer() -> UnsafeMutableRawBufferPointer {
        guard loop.inLoop else { return .allocate(byteCount: Self.receiveBufferSize, alignment: 8) }
        receiveBuffersLent += 1
        return receiveBuffers.popLast() ?? .allocate(byteCount: Self.receiveBufferSize, alignment: 8)
    }

    /// Takes back a buffer from ``takeReceiveBuffer()``; one of another size is deallocated.
    public func recycle(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count == Self.receiveBufferSize, loop.inLoop else {
            buffer.deallocate()
            return
        }
        receiveBuffersLent -= 1
        if receiveBuffers.count < Self.maxKept {
            receiveBuffers.append(buffer)
        } else {
            buffer.deallocate()
        }
    }

    /// An empty array with room for at least ``arrayCapacity`` bytes.
    public func takeArray() -> [UInt8] {
        guard loop.inLoop else { return Self.newArray() }
        arraysLent += 1
        return arrays.popLast() ?? Self.newArray()
    }

    private static func newArray() -> [UInt8] {
        var array: [UInt8] = []
        array.reserveCapacity(arrayCapacity)
        return array
    }

    /// Takes `array`'s storage (its bytes are dropped), leaving `array` empty without storage.
    public func recycle(_ array: inout [UInt8]) {
        guard array.capacity > 0 else { return }
        var taken: [UInt8] = []
        swap(&taken, &array)
        guard loop.inLoop else { return }
        arraysLent -= 1
        guard taken.capacity >= Self.arrayCapacity, taken.capacity <= Self.maxArrayCapacity,
            arrays.count < Self.maxKept
        else { return }
        taken.removeAll(keepingCapacity: true)
        arrays.append(taken)
    }
}
