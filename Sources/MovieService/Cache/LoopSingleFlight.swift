import Reactor

/// Single flight per key on each event loop: concurrent misses for one key (a movie id, a
/// list page at one catalogue token) on one loop share one database query.
///
/// Per loop rather than per process because a request never leaves its loop: sharing a
/// load across loops would cost a cross-thread hop per waiter, more than the query it
/// saves on a hot key. Each loop's table is touched only on that loop.
final class LoopSingleFlight<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    typealias Outcome = Result<Value, any Error>

    private final class Table: @unchecked Sendable {
        let loop: EventLoop
        // Lock rule: none; only `loop`'s thread touches `state`.
        var state = SingleFlightState<Key, UnsafeContinuation<Outcome, Never>>()
        init(loop: EventLoop) { self.loop = loop }
    }

    private let tables: [Table]

    init(group: EventLoopGroup) {
        tables = group.loops.map(Table.init)
    }

    /// The calling loop's table, nil off the loops (then nothing is coalesced).
    private func table() -> Table? {
        guard let loop = EventLoop.current, loop.index < tables.count else { return nil }
        let table = tables[loop.index]
        return table.loop === loop ? table : nil
    }

    /// Runs `load` for `key`, or waits for the one already running on this loop.
    /// - Parameter coalesced: called when this caller joined a running load.
    /// - Returns: the load's outcome (the same for the leader and every follower).
    func run(
        _ key: Key, coalesced: () -> Void, load: () async -> Outcome
    ) async -> Outcome {
        guard let table = table() else { return await load() }
        switch table.state.arrive(key) {
        case .follow:
            coalesced()
            return await withUnsafeContinuation { continuation in
                // Still on the loop, before suspending: nothing can finish the load in between.
                table.state.park(key, continuation)
            }
        case .lead:
            let outcome = await load()
            // A handler's task has the loop as executor preference and is back on it here;
            // should a caller not be, the table is still touched only on its loop.
            if table.loop.inLoop {
                for waiter in table.state.finish(key) { waiter.resume(returning: outcome) }
            } else {
                let sendable = UncheckedOutcome(outcome)
                table.loop.execute {
                    for waiter in table.state.finish(key) { waiter.resume(returning: sendable.outcome) }
                }
            }
            return outcome
        }
    }

    /// Loads running on the calling loop (tests).
    var _testOnly_inFlight: Int { table()?.state.inFlight ?? 0 }
}

/// An outcome carried to the loop; the value is Sendable, the error is only rethrown there.
private struct UncheckedOutcome<Value: Sendable>: @unchecked Sendable {
    let outcome: Result<Value, any Error>
    init(_ outcome: Result<Value, any Error>) { self.outcome = outcome }
}
