import CHiredis

#if canImport(Glibc)
import Glibc
#endif

/// Builds the replies hiredis parses straight into the two buffers of a ``RedisReply``,
/// instead of hiredis's default of one allocated `redisReply` per value and one more per
/// string: installed as the reader's object functions (`redisReplyObjectFunctions`, the hook
/// hiredis's reader offers for this), so an `MGET` of 50 keys allocates nothing per key.
///
/// hiredis asks for an object per value, keeps the root one until it has passed the reply to
/// the command's callback, and frees nothing but the root. Every object it gets is ``root``,
/// a `redisReply` this builder owns, whose `type` (and `str`, for an error) hiredis reads
/// itself when a reply arrives with no command waiting (the server's "max clients" error).
/// So nothing is allocated or freed per value: the next reply's root resets the buffers,
/// which keep their capacity. Loop-only: hiredis calls these functions inside the
/// connection's calls into it, on the connection's loop.
final class RedisReplyBuilder {
    private var bytes: [UInt8] = []
    private var items: [RedisReply.Item] = []
    /// What hiredis holds for every value; valid for the builder's life.
    private let root: UnsafeMutablePointer<redisReply>
    /// The root error's text as a C string (``root``'s `str`), until the next reply.
    private var rootError: UnsafeMutablePointer<CChar>?
    /// Buffers larger than this are let go when the next reply starts (one huge reply does
    /// not pin its memory).
    private static let keptCapacity = 64 * 1024

    init() {
        root = .allocate(capacity: 1)
        root.initialize(to: redisReply())
    }

    deinit {
        free(rootError)
        root.deinitialize(count: 1)
        root.deallocate()
    }

    /// Makes `reader` build its replies here. The builder must outlive the reader: the
    /// connection owns it and outlives each of its hiredis contexts.
    func install(on reader: UnsafeMutablePointer<redisReader>) {
        reader.pointee.fn = Self.functions
        reader.pointee.privdata = Unmanaged.passUnretained(self).toOpaque()
    }

    /// The reply hiredis finished last. Its buffers are handed over, not copied, unless they
    /// are mostly empty (a small reply after a large one): the reply may be kept a while.
    /// The next reply then starts in new buffers of the same capacity.
    func reply() -> RedisReply {
        RedisReply(bytes: Self.handOver(bytes), items: Self.handOver(items))
    }

    private static func handOver<Element>(_ buffer: [Element]) -> [Element] {
        buffer.capacity > 2 * buffer.count + 64 ? buffer.withUnsafeBufferPointer { Array($0) } : buffer
    }

    // MARK: What hiredis calls

    /// Starts a reply when `task` is its root value: the buffers and ``root`` are reset.
    private func begin(_ task: UnsafePointer<redisReadTask>) {
        guard task.pointee.parent == nil else { return }
        if bytes.capacity > Self.keptCapacity { bytes = [] } else { bytes.removeAll(keepingCapacity: true) }
        if items.capacity > Self.keptCapacity { items = [] } else { items.removeAll(keepingCapacity: true) }
        free(rootError)
        rootError = nil
        root.pointee.type = task.pointee.type
        root.pointee.str = nil
    }

    private func string(_ task: UnsafePointer<redisReadTask>, _ start: UnsafeMutablePointer<CChar>?, _ length: Int)
        -> UnsafeMutableRawPointer
    {
        begin(task)
        let kind: RedisReply.Item.Kind
        switch task.pointee.type {
        case REDIS_REPLY_STATUS: kind = .status
        case REDIS_REPLY_ERROR: kind = .error
        default: kind = .string
        }
        items.append(RedisReply.Item(kind: kind, value: bytes.count, length: length))
        if let start, length > 0 {
            // Scoped: `start` points into hiredis's read buffer for `length` bytes during this call.
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: start, count: length))
        }
        if kind == .error, task.pointee.parent == nil {
            // Scoped likewise: strndup copies the text out before this call returns.
            rootError = length > 0 ? start.flatMap { strndup($0, length) } : strdup("")
            root.pointee.str = rootError
        }
        return UnsafeMutableRawPointer(root)
    }

    private func array(_ task: UnsafePointer<redisReadTask>, _ elements: Int32) -> UnsafeMutableRawPointer {
        begin(task)
        items.append(RedisReply.Item(kind: .array, value: Int(elements), length: 0))
        return UnsafeMutableRawPointer(root)
    }

    private func integer(_ task: UnsafePointer<redisReadTask>, _ value: Int64) -> UnsafeMutableRawPointer {
        begin(task)
        items.append(RedisReply.Item(kind: .integer, value: Int(truncatingIfNeeded: value), length: 0))
        return UnsafeMutableRawPointer(root)
    }

    private func null(_ task: UnsafePointer<redisReadTask>) -> UnsafeMutableRawPointer {
        begin(task)
        items.append(RedisReply.Item(kind: .null, value: 0, length: 0))
        return UnsafeMutableRawPointer(root)
    }

    /// The builder a reader task belongs to (the reader's privdata, copied into each task).
    private static func builder(_ task: UnsafePointer<redisReadTask>?) -> RedisReplyBuilder? {
        guard let data = task?.pointee.privdata else { return nil }
        return Unmanaged<RedisReplyBuilder>.fromOpaque(data).takeUnretainedValue()
    }

    /// The function table every connection's reader uses; allocated once, never freed.
    /// A NULL answer makes hiredis fail the read (as out of memory): only without a builder.
    nonisolated(unsafe) private static let functions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        let table = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        table.initialize(
            to: redisReplyObjectFunctions(
                createString: { task, start, length in
                    guard let task, let builder = builder(task) else { return nil }
                    return builder.string(task, start, length)
                },
                createArray: { task, elements in
                    guard let task, let builder = builder(task) else { return nil }
                    return builder.array(task, elements)
                },
                createInteger: { task, value in
                    guard let task, let builder = builder(task) else { return nil }
                    return builder.integer(task, value)
                },
                createNil: { task in
                    guard let task, let builder = builder(task) else { return nil }
                    return builder.null(task)
                },
                // Everything belongs to the builder and is reused by the next reply.
                freeObject: { _ in }))
        return table
    }()
}
