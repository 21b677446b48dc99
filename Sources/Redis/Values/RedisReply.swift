/// A reply as the connection reads it: the bytes of all its strings back to back in one
/// buffer, and one ``Item`` per value in pre-order (an array, then its elements).
///
/// Two allocations per reply however many values it holds, so a 50-key `MGET` costs what a
/// `GET` does; ``bulkStrings()`` reads such an answer as slices of the one buffer.
/// ``RedisValue/init(_:)`` turns it into the tree that the general commands return.
public struct RedisReply: Sendable {
    /// Every bulk string, status and error of the reply, back to back.
    public let bytes: [UInt8]
    /// The values in pre-order: the root first.
    let items: [Item]

    /// One value of a reply.
    struct Item: Sendable, Equatable {
        enum Kind: UInt8, Sendable {
            case null, string, status, error, integer, array
        }
        let kind: Kind
        /// string, status, error: where its bytes start in ``RedisReply/bytes``; integer: the
        /// value; array: how many elements follow (each with its own elements after it).
        let value: Int
        /// string, status, error: how many bytes.
        let length: Int
    }

    init(bytes: [UInt8], items: [Item]) {
        self.bytes = bytes
        self.items = items
    }

    /// A bulk string reply's bytes (the whole buffer, not copied); nil for any other reply.
    public var bulkString: [UInt8]? {
        items.count == 1 && items[0].kind == .string ? bytes : nil
    }

    /// Whether the reply is a nil (`$-1`, `*-1`: a missing key).
    public var isNull: Bool { items.count == 1 && items[0].kind == .null }

    /// The text of an error reply (`ERR ...`, `NOSCRIPT ...`); nil for any other reply.
    var errorMessage: String? {
        guard let root = items.first, root.kind == .error else { return nil }
        return String(decoding: bytes[root.value..<(root.value + root.length)], as: UTF8.self)
    }

    /// The elements of an array whose elements are all bulk strings or nils (the answer of
    /// `MGET`), each a slice of ``bytes`` or nil; nil when the reply has any other shape.
    public func bulkStrings() -> BulkStrings? {
        guard let root = items.first, root.kind == .array, root.value == items.count - 1 else { return nil }
        for item in items.dropFirst() where item.kind != .string && item.kind != .null { return nil }
        return BulkStrings(reply: self)
    }

    /// The elements of an array reply of bulk strings and nils, by position.
    public struct BulkStrings: RandomAccessCollection, Sendable {
        let reply: RedisReply

        public var startIndex: Int { 0 }
        public var endIndex: Int { reply.items.count - 1 }

        /// The `index`th element's bytes, nil for a nil.
        public subscript(index: Int) -> ArraySlice<UInt8>? {
            let item = reply.items[index + 1]
            guard item.kind == .string else { return nil }
            return reply.bytes[item.value..<(item.value + item.length)]
        }
    }
}

extension RedisValue {
    /// The reply as a tree of values (bulk strings copied out of the shared buffer).
    public init(_ reply: RedisReply) {
        var next = 0
        self = Self.value(of: reply, at: &next)
    }

    /// The value whose item is at `next`, with all its elements; moves `next` past them.
    private static func value(of reply: RedisReply, at next: inout Int) -> RedisValue {
        guard next < reply.items.count else { return .null }
        let item = reply.items[next]
        next += 1
        switch item.kind {
        case .null:
            return .null
        case .integer:
            return .integer(item.value)
        case .string:
            return .string(Array(reply.bytes[item.value..<(item.value + item.length)]))
        case .status:
            return .status(String(decoding: reply.bytes[item.value..<(item.value + item.length)], as: UTF8.self))
        case .error:
            return .error(String(decoding: reply.bytes[item.value..<(item.value + item.length)], as: UTF8.self))
        case .array:
            var values: [RedisValue] = []
            values.reserveCapacity(min(item.value, reply.items.count - next))
            for _ in 0..<item.value { values.append(value(of: reply, at: &next)) }
            return .array(values)
        }
    }
}
