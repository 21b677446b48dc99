/// A growable FIFO queue on a circular buffer: O(1) append and removeFirst.
///
/// The loops' job queues and the pools' wait queues use it. Written here rather than
/// taken from swift-collections so that the runtime has no package dependency at all.
public struct RingBuffer<Element> {
    private var storage: [Element?]
    private var head = 0
    public private(set) var count = 0

    public init(initialCapacity: Int = 16) {
        var capacity = 2
        while capacity < initialCapacity { capacity <<= 1 }
        storage = Array(repeating: nil, count: capacity)
    }

    public var isEmpty: Bool { count == 0 }

    public var first: Element? { count == 0 ? nil : storage[head] }

    /// `consuming` and `take()`: an element is moved in and out, not copied in and out (a
    /// loop's jobs pass through here, and a closure job copied is a retain and a release).
    public mutating func append(_ element: consuming Element) {
        if count == storage.count { grow() }
        storage[(head + count) & (storage.count - 1)] = consume element
        count += 1
    }

    public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()
        head = (head + 1) & (storage.count - 1)
        count -= 1
        return element
    }

    /// Removes and returns every element that matches, keeping the order of the others.
    public mutating func removeAll(where shouldRemove: (Element) -> Bool) -> [Element] {
        var removed: [Element] = []
        var kept = RingBuffer(initialCapacity: storage.count)
        while let element = popFirst() {
            if shouldRemove(element) { removed.append(element) } else { kept.append(element) }
        }
        self = kept
        return removed
    }

    private mutating func grow() {
        // Capacity stays a power of two so that wrapping is a mask, not a division.
        var capacity = 2
        while capacity <= storage.count { capacity <<= 1 }
        var newStorage = [Element?](repeating: nil, count: capacity)
        for index in 0..<count {
            newStorage[index] = storage[(head + index) & (storage.count - 1)]
        }
        storage = newStorage
        head = 0
    }
}
