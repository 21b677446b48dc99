import Reactor

/// A connection's receive buffer: bytes read from the stream and not yet consumed. The server's
/// and the client's connections read through it.
///
/// Two kinds of memory:
/// - **pooled** (``init(pool:maxCapacity:)``, server connections): taken from the loop's
///   ``LoopBufferPool`` when bytes are about to be read and given back (``release()``) when
///   everything read has been consumed and the connection is about to wait, so that an idle
///   keep-alive connection holds none. It grows (up to `maxCapacity`) only when a single head
///   does not fit.
/// - **owned** (``init(capacity:)``, client connections): one fixed allocation for the
///   connection's life, which bounds what a response body can hold in memory at once.
///
/// Either way, when the free space at the end runs out, the unread tail moves to the front
/// before anything grows. Loop-bound, like its connection.
final class ReadBuffer {
    /// nil while released (pooled only).
    private var storage: UnsafeMutableRawBufferPointer?
    private var readIndex = 0
    private var writeIndex = 0
    /// nil for owned memory.
    private let pool: LoopBufferPool?
    let maxCapacity: Int

    /// Pooled memory of ``LoopBufferPool/receiveBufferSize`` bytes, growing to `maxCapacity`.
    init(pool: LoopBufferPool, maxCapacity: Int) {
        self.pool = pool
        self.maxCapacity = max(LoopBufferPool.receiveBufferSize, maxCapacity)
    }

    /// Owned memory of `capacity` bytes, allocated now and never released nor grown.
    init(capacity: Int) {
        pool = nil
        maxCapacity = max(capacity, 1)
        storage = .allocate(byteCount: maxCapacity, alignment: 16)
    }

    // Freed, not pooled: a connection may outlive its loop at shutdown, and the pool's check
    // of the loop would then read a loop that is gone. (The pool's count of lent buffers
    // does not see this one come back: it counts only what idle connections give back.)
    deinit { storage?.deallocate() }

    /// Bytes read and not yet consumed.
    var unreadCount: Int { writeIndex - readIndex }

    /// Calls `body` with the unread bytes; the pointer is valid only inside `body`.
    func withUnread<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let storage else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return body(UnsafeRawBufferPointer(rebasing: storage[readIndex..<writeIndex]))
    }

    /// `count` unread bytes starting `offset` bytes into the unread region, in place: valid
    /// until the next ``readMore(from:socket:)``, ``release()`` or deinit.
    func unread(offset: Int, count: Int) -> UnsafeRawBufferPointer {
        guard let storage else { preconditionFailure("bytes from a released buffer") }
        let start = readIndex + offset
        return UnsafeRawBufferPointer(rebasing: storage[start..<start + count])
    }

    /// Copies `count` unread bytes starting `offset` bytes into the unread region.
    func copy(offset: Int, count: Int) -> ArraySlice<UInt8> {
        ArraySlice(unread(offset: offset, count: count))
    }

    func consume(_ count: Int) {
        precondition(count <= unreadCount, "consumed more than was read")
        readIndex += count
        if readIndex == writeIndex {
            readIndex = 0
            writeIndex = 0
        }
    }

    /// Drops every unread byte.
    func discardUnread() {
        readIndex = 0
        writeIndex = 0
    }

    /// Gives pooled memory back to the loop's pool when nothing unread is in it. Loop-only.
    func release() {
        guard unreadCount == 0, let pool, let storage else { return }
        pool.recycle(storage)
        self.storage = nil
    }

    /// Reads once from `stream` into free space, taking memory from the pool or making room first.
    ///
    /// - Parameter socket: `stream` itself when it is a plain TCP socket, read directly (see
    ///   `TCPSocket.read(into:from:socket:)`).
    /// - Returns: the number of bytes read; 0 at end of stream.
    /// - Throws: ``IOError``, or `BufferFull` when the unread bytes already fill `maxCapacity`.
    @inline(__always)  // one async frame fewer per read
    func readMore(from stream: any ByteStream, socket: TCPSocket?) async throws -> Int {
        // Owned memory is never nil; pooled memory is taken when released.
        var storage = self.storage ?? pool!.takeReceiveBuffer()
        if writeIndex == storage.count {
            if readIndex > 0 {
                // Move the unread tail to the front instead of growing (copyMemory allows overlap).
                let count = unreadCount
                storage.baseAddress!.copyMemory(from: storage.baseAddress! + readIndex, byteCount: count)
                readIndex = 0
                writeIndex = count
            } else {
                guard storage.count < maxCapacity, let pool else { throw BufferFull() }
                let grown = UnsafeMutableRawBufferPointer.allocate(
                    byteCount: min(storage.count * 2, maxCapacity), alignment: 8)
                grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[0..<writeIndex]))
                pool.recycle(storage)
                storage = grown
            }
        }
        self.storage = storage
        let free = UnsafeMutableRawBufferPointer(rebasing: storage[writeIndex...])
        // `free` points into `storage`, which this buffer keeps alive and does not move or
        // release while the read is suspended (one read at a time per connection).
        let count = try await TCPSocket.read(into: free, from: stream, socket: socket)
        writeIndex += count
        return count
    }

    struct BufferFull: Error {}
}
