/// Which lookups of one key share one load: the pure state of single flight.
///
/// The first miss for a key *leads* (runs the database query); misses for the same key
/// that arrive while it runs *follow* (park a waiter). When the load finishes, the leader
/// takes the waiters and resumes them with its outcome, and the next miss leads again.
/// No clock and no I/O: the shell (``LoopSingleFlight``) holds one per event loop and
/// touches it only on that loop, so it needs no lock.
struct SingleFlightState<Key: Hashable, Waiter> {
    enum Arrival: Equatable {
        /// No load for the key is running: the caller runs it, then calls ``finish(_:)``.
        case lead
        /// A load is running: the caller parks with ``park(_:_:)`` before suspending.
        case follow
    }

    private var pending: [Key: [Waiter]] = [:]

    /// Loads running now.
    var inFlight: Int { pending.count }

    /// Waiters parked on `key`'s load.
    func waiterCount(_ key: Key) -> Int { pending[key]?.count ?? 0 }

    mutating func arrive(_ key: Key) -> Arrival {
        if pending[key] != nil { return .follow }
        pending[key] = []
        return .lead
    }

    /// Parks a follower. Call only right after ``arrive(_:)`` said `.follow`, before any suspension.
    mutating func park(_ key: Key, _ waiter: Waiter) {
        guard pending[key] != nil else { preconditionFailure("Invalid state: park without a load for the key") }
        pending[key, default: []].append(waiter)
    }

    /// Ends `key`'s load. - Returns: the waiters to resume with its outcome.
    mutating func finish(_ key: Key) -> [Waiter] {
        guard let waiters = pending.removeValue(forKey: key) else {
            preconditionFailure("Invalid state: finish without a load for the key")
        }
        return waiters
    }
}
