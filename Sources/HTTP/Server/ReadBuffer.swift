import Reactor

/// A connection's receive buffer: bytes read from the stream and not yet consumed.
///
/// One allocation per connection, grown (up to `maxCapacity`) only when a single head
/// does not fit. Loop-bound, like its connection.
final class ReadBuffer {
    private var storage: UnsafeMutableRawBufferPointer
    private var readIndex = 0
    private var writeIndex = 0
    let maxCapacity: Int

    init(initialCapacity: Int = 16 * 1024, maxCapacity: Int) {
        storage = .allocate(byteCount: initialCapacity, alignment: 8)
        self.maxCapacity = max(initialCapacity, maxCapacity)
    }

    deinit { storage.deallocate() }

    /// Bytes read and not yet consumed.
    var unreadCount: Int { writeIndex - readIndex }

    /// Calls `body` with the unread bytes; the pointer is valid only inside `body`.
    func withUnread<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(rebasing: storage[readIndex..<writeIndex]))
    }

    /// Copies `count` unread bytes starting `offset` bytes into the unread region.
    func copy(offset: Int, count: Int) -> ArraySlice<UInt8> {
        let start = readIndex + offset
        return ArraySlice(UnsafeRawBufferPointer(rebasing: storage[start..<start + count]))
    }

    func consume(_ count: Int) {
        precondition(count <= unreadCount, "consumed more than was read")
        readIndex += count
        if readIndex == writeIndex {
            readIndex = 0
            writeIndex = 0
        }
    }

    /// Reads once from `stream` into free space, making room first.
    ///
    /// - Parameter socket: `stream` itself when it is a plain TCP socket, read directly (see
    ///   `TCPSocket.read(into:from:socket:)`).
    /// - Returns: the number of bytes read; 0 at end of stream.
    /// - Throws: ``IOError``, or `BufferFull` when the unread bytes already fill `maxCapacity`.
    @inline(__always)  // one async frame fewer per read
    func readMore(from stream: any ByteStream, socket: TCPSocket?) async throws -> Int {
        if writeIndex == storage.count {
            if readIndex > 0 {
                // Move the unread tail to the front instead of growing.
                let count = unreadCount
                storage.baseAddress!.copyMemory(from: storage.baseAddress! + readIndex, byteCount: count)
                readIndex = 0
                writeIndex = count
            } else {
                guard storage.count < maxCapacity else { throw BufferFull() }
                let grown = UnsafeMutableRawBufferPointer.allocate(
                    byteCount: min(storage.count * 2, maxCapacity), alignment: 8)
                grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[0..<writeIndex]))
                storage.deallocate()
                storage = grown
            }
        }
        let free = UnsafeMutableRawBufferPointer(rebasing: storage[writeIndex...])
        // `free` points into `storage`, which this buffer keeps alive and does not move
        // while the read is suspended (one read at a time per connection).
        let count = try await TCPSocket.read(into: free, from: stream, socket: socket)
        writeIndex += count
        return count
    }

    struct BufferFull: Error {}
}
