/// Values by stream identifier, for one connection's streams: open addressing with linear
/// probing over a power-of-two table kept at most half full.
///
/// Why not a `Dictionary`: it hashes every key with the standard library's seeded SipHash,
/// and a request looks its stream up a dozen times (the state machine's stream, the I/O
/// shell's exchange). Here a key is spread by one multiplication. Identifiers are the
/// client's to choose, so it could make them collide; the table holds no more than the
/// connection's concurrent streams (a limit the state machine enforces), so a collision
/// costs at most a walk over those.
struct HTTP2StreamTable<Value> {
    /// 0 marks a free slot: stream 0 is the connection, never a stream of the table.
    private var keys: [UInt32] = []
    private var values: [Value?] = []
    private(set) var count = 0
    /// 64 minus log2 of the capacity: a key's home slot is the top bits of its product.
    private var shift: UInt64 = 64

    init() {}

    var isEmpty: Bool { count == 0 }

    /// The identifiers in the table, in increasing order.
    var sortedKeys: [UInt32] { keys.filter { $0 != 0 }.sorted() }

    @inline(__always)
    private func home(of id: UInt32) -> Int {
        Int(truncatingIfNeeded: (UInt64(id) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The slot holding `id`, or nil. A free slot ends every probe: the table is never full.
    private func slot(of id: UInt32) -> Int? {
        guard count > 0 else { return nil }
        let mask = keys.count - 1
        var slot = home(of: id)
        while true {
            let key = keys[slot]
            if key == id { return slot }
            if key == 0 { return nil }
            slot = (slot + 1) & mask
        }
    }

    subscript(id: UInt32) -> Value? {
        get { slot(of: id).flatMap { values[$0] } }
        set {
            if let newValue {
                insert(id, newValue)
            } else {
                removeValue(forKey: id)
            }
        }
    }

    private mutating func insert(_ id: UInt32, _ value: Value) {
        precondition(id != 0, "stream 0 is the connection")
        if let slot = slot(of: id) {
            values[slot] = value
            return
        }
        if (count + 1) * 2 > keys.count { grow() }
        place(id, value)
    }

    /// Puts a key that is not in the table into its first free slot.
    private mutating func place(_ id: UInt32, _ value: Value) {
        let mask = keys.count - 1
        var slot = home(of: id)
        while keys[slot] != 0 { slot = (slot + 1) & mask }
        keys[slot] = id
        values[slot] = value
        count += 1
    }

    private mutating func grow() {
        let capacity = Swift.max(8, keys.count * 2)
        let oldKeys = keys
        let oldValues = values
        keys = [UInt32](repeating: 0, count: capacity)
        values = [Value?](repeating: nil, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        count = 0
        for index in oldKeys.indices where oldKeys[index] != 0 {
            if let value = oldValues[index] { place(oldKeys[index], value) }
        }
    }

    @discardableResult
    mutating func removeValue(forKey id: UInt32) -> Value? {
        guard var hole = slot(of: id) else { return nil }
        let removed = values[hole]
        keys[hole] = 0
        values[hole] = nil
        count -= 1
        // Backward shift: each later key of the probe run moves into the hole when the hole
        // lies between its home slot and where it is, so that no probe stops short of it.
        let mask = keys.count - 1
        var next = (hole + 1) & mask
        while keys[next] != 0 {
            let distanceFromHome = (next - home(of: keys[next])) & mask
            if distanceFromHome >= (next - hole) & mask {
                keys[hole] = keys[next]
                values[hole] = values[next]
                keys[next] = 0
                values[next] = nil
                hole = next
            }
            next = (next + 1) & mask
        }
        return removed
    }

    mutating func removeAll() {
        self = HTTP2StreamTable()
    }
}

extension HTTP2StreamTable: Sequence {
    struct Iterator: IteratorProtocol {
        fileprivate let keys: [UInt32]
        fileprivate let values: [Value?]
        fileprivate var index = 0

        mutating func next() -> (key: UInt32, value: Value)? {
            while index < keys.count {
                let position = index
                index += 1
                if keys[position] != 0, let value = values[position] { return (keys[position], value) }
            }
            return nil
        }
    }

    /// The entries in no particular order.
    func makeIterator() -> Iterator {
        Iterator(keys: keys, values: values)
    }
}

extension HTTP2StreamTable: Sendable where Value: Sendable {}
