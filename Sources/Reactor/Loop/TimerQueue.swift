/// A timer scheduled on an event loop. Cancel it from the loop's thread.
public final class TimerHandle {
    /// Monotonic deadline in nanoseconds.
    let deadline: UInt64
    /// Breaks ties between equal deadlines so that timers fire in the order they were set.
    let sequence: UInt64
    fileprivate(set) var action: (() -> Void)?
    /// Called instead of `action` when the loop stops before the deadline (a waiter that
    /// must fail rather than hang); nil for timers that need nothing then.
    fileprivate(set) var loopStopped: (() -> Void)?

    init(deadline: UInt64, sequence: UInt64, action: @escaping () -> Void, loopStopped: (() -> Void)? = nil) {
        self.deadline = deadline
        self.sequence = sequence
        self.action = action
        self.loopStopped = loopStopped
    }

    /// Prevents the timer from firing. Idempotent; a no-op once it has fired.
    ///
    /// Must be called on the loop that scheduled it. The entry stays in the heap until its
    /// deadline (lazy deletion): cancelling is O(1), which matters because almost every
    /// request timeout is cancelled long before it would fire.
    public func cancel() {
        action = nil
        loopStopped = nil
    }

    /// True while the timer may still fire.
    public var isPending: Bool { action != nil }
}

/// A binary min-heap of timers ordered by deadline, owned by one loop.
struct TimerQueue {
    private var heap: [TimerHandle] = []
    private var nextSequence: UInt64 = 0
    /// Heap size at which cancelled entries are swept out. Lazy deletion alone keeps every
    /// cancelled timer until its deadline: a server that sets and cancels a timeout per
    /// request would hold one dead entry for every request of the last timeout period.
    /// Sweeping when the heap doubles keeps it near the live count, at amortised O(1) per
    /// timer.
    private var compactAt = 1024

    var isEmpty: Bool { heap.isEmpty }

    mutating func schedule(
        deadline: UInt64, action: @escaping () -> Void, loopStopped: (() -> Void)? = nil
    ) -> TimerHandle {
        if heap.count >= compactAt { compact() }
        let handle = TimerHandle(deadline: deadline, sequence: nextSequence, action: action, loopStopped: loopStopped)
        nextSequence &+= 1
        heap.append(handle)
        siftUp(heap.count - 1)
        return handle
    }

    /// The earliest deadline of a timer that has not been cancelled, dropping cancelled ones.
    mutating func nextDeadline() -> UInt64? {
        while let top = heap.first {
            if top.action != nil { return top.deadline }
            _ = popMin()
        }
        return nil
    }

    /// Removes and returns the actions of every timer due at `now`, in deadline order.
    mutating func popExpired(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let top = heap.first, top.deadline <= now {
            _ = popMin()
            if let action = top.action {
                top.action = nil
                top.loopStopped = nil
                due.append(action)
            }
        }
        return due
    }

    /// Empties the queue (the loop stopped) and returns the stop handlers of the timers that
    /// were still pending.
    mutating func removeAllForStop() -> [() -> Void] {
        let handlers = heap.compactMap { $0.action != nil ? $0.loopStopped : nil }
        for handle in heap { handle.cancel() }
        heap.removeAll()
        return handlers
    }

    /// Live (not cancelled) timers in the heap.
    var liveCount: Int { heap.reduce(0) { $0 + ($1.action == nil ? 0 : 1) } }

    /// Drops cancelled timers and restores the heap order (Floyd's bottom-up heapify).
    private mutating func compact() {
        heap.removeAll { $0.action == nil }
        var index = heap.count / 2 - 1
        while index >= 0 {
            siftDown(index)
            index -= 1
        }
        compactAt = max(1024, heap.count * 2)
    }

    /// The number of entries in the heap, live or cancelled (tests).
    var _testOnly_entryCount: Int { heap.count }

    private mutating func popMin() -> TimerHandle {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
        return top
    }

    private func less(_ a: TimerHandle, _ b: TimerHandle) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.sequence < b.sequence
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(heap[child], heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && less(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && less(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
