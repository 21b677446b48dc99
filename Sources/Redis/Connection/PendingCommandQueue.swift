/// The commands a connection has sent and not yet seen answered, in sending order.
///
/// hiredis answers callbacks strictly in order (RESP2 has no out-of-order replies), so
/// this is a FIFO whose IDs are consecutive; the ID travels to hiredis as `privdata`, never
/// a pointer, so a late reply can always be matched safely. A command that times out keeps
/// its place with its completion taken (abandoned): its reply, if it comes, is dropped.
///
/// Pure and generic over the completion so that tests need no connection.
struct PendingCommandQueue<Completion> {
    struct Entry {
        let id: UInt64
        /// Monotonic nanoseconds.
        let deadline: UInt64
        var completion: Completion?
    }

    private var entries: [Entry] = []
    /// Index of the oldest entry (entries before it are answered; compacted now and then).
    private var head = 0
    /// Index of the oldest entry that has not timed out (`>= head`).
    private var live = 0
    /// The ID the next appended command gets; IDs start at 1 so that privdata is never NULL.
    private(set) var nextID: UInt64 = 1

    var count: Int { entries.count - head }
    var isEmpty: Bool { head == entries.count }

    /// Adds a command; returns its ID (equal to ``nextID`` before the call).
    @discardableResult
    mutating func append(deadline: UInt64, completion: Completion) -> UInt64 {
        let id = nextID
        nextID &+= 1
        entries.append(Entry(id: id, deadline: deadline, completion: completion))
        return id
    }

    /// Takes the oldest command, which must be `id`; nil when it had been abandoned.
    mutating func complete(id: UInt64) -> Completion? {
        guard head < entries.count else {
            preconditionFailure("a Redis reply for command \(id) with no command pending")
        }
        precondition(entries[head].id == id, "Redis replies out of order: \(id) vs \(entries[head].id)")
        let completion = entries[head].completion
        head += 1
        if live < head { live = head }
        compactIfWorthIt()
        return completion
    }

    /// Abandons every command whose deadline is at or before `now`; returns their completions
    /// (to be failed with a timeout). Deadlines grow along the queue (one timeout per connection).
    mutating func expire(now: UInt64) -> [Completion] {
        var expired: [Completion] = []
        while live < entries.count, entries[live].deadline <= now {
            if let completion = entries[live].completion { expired.append(completion) }
            entries[live].completion = nil
            live += 1
        }
        return expired
    }

    /// The deadline of the oldest command that has not timed out yet.
    var nextDeadline: UInt64? { live < entries.count ? entries[live].deadline : nil }

    /// Empties the queue; returns the completions still waiting (to be failed).
    mutating func removeAll() -> [Completion] {
        let waiting = entries[head...].compactMap(\.completion)
        entries.removeAll(keepingCapacity: true)
        head = 0
        live = 0
        return waiting
    }

    private mutating func compactIfWorthIt() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
            live = 0
        } else if head >= 1024, head * 2 >= entries.count {
            entries.removeFirst(head)
            live -= head
            head = 0
        }
    }
}
