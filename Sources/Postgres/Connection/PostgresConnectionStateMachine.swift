import Reactor

/// The protocol logic of one pipelined connection, as a pure value: no sockets, no libpq,
/// so that tests walk it through event sequences. The I/O shell (``PostgresConnection``)
/// reports what libpq said and runs the action it gets back.
///
/// Every request is one or more statements, each sent as `PQsendQueryParams` followed by
/// `PQpipelineSync`: one sync per statement keeps an error in one statement from aborting
/// the next (each is its own implicit transaction, as without pipelining). libpq then gives,
/// per statement: a result (rows, command or error), a NULL that ends it, and a
/// `PGRES_PIPELINE_SYNC`. Requests complete in the order they were sent.
///
/// A request whose caller stopped waiting (its deadline passed) is *abandoned*: it keeps its
/// place, so that the results still on their way are matched to it and dropped, and the
/// requests behind it get their own.
///
/// Generic over the request (the shell's continuation) and the per-statement result.
struct PostgresConnectionStateMachine<Request, StatementResult> {
    enum State: Equatable {
        case initial
        case connecting
        case ready
        case closed
    }

    /// Where a request's current statement is in its result sequence.
    enum Phase: Equatable {
        case awaitingResult
        case awaitingEnd
        case awaitingSync
    }

    struct InFlight {
        let request: Request
        /// Per statement, how many commands it was sent as: 1 (`PQsendQueryParams`), or 2
        /// (`PQsendPrepare` then `PQsendQueryPrepared`, the first use of a cached statement).
        let commands: [Int]
        /// Its caller has been answered already: its results are matched and dropped.
        var isAbandoned = false
        var results: [StatementResult] = []
        /// The current statement's result so far, and whether it is a failure.
        var pending: (result: StatementResult, isFailure: Bool)?
        var commandsSeen = 0
        var phase = Phase.awaitingResult
    }

    enum SubmitAction {
        /// Send the statements, then flush.
        case send
        /// The connection cannot take it: fail the request.
        case fail
    }

    enum ResultAction {
        case none
        /// Every statement of the request has its result.
        case complete(Request, [StatementResult])
        /// Every statement of an abandoned request has its result: nobody waits for them (the
        /// connection still learns from them, e.g. which preparations failed).
        case discarded(Request, [StatementResult])
        /// libpq said something out of order: close the connection (and fail everything).
        case protocolViolation(String)
    }

    enum EndAction: Equatable {
        /// The NULL ended a statement's results.
        case consumed
        /// No statement waited for a NULL: libpq has nothing more for now, stop asking.
        case nothingPending
    }

    private(set) var state = State.initial
    /// The oldest request in flight (the one libpq's results belong to), kept apart from the
    /// queue so that it is edited in place.
    private var head: InFlight?
    /// The requests sent after `head`, oldest first.
    private var queued = RingBuffer<InFlight>(initialCapacity: 64)

    /// Requests sent and not yet complete (abandoned ones included: they still hold their place).
    var inFlightCount: Int { head == nil ? 0 : queued.count + 1 }
    /// Requests in flight whose caller has been answered already.
    private(set) var abandonedCount = 0
    /// The oldest request in flight, and whether it is abandoned.
    var oldest: (request: Request, isAbandoned: Bool)? { head.map { ($0.request, $0.isAbandoned) } }

    mutating func connectStarted() {
        guard state == .initial else { preconditionFailure("Invalid state: \(state)") }
        state = .connecting
    }

    mutating func connected() {
        guard state == .connecting else { preconditionFailure("Invalid state: \(state)") }
        state = .ready
    }

    mutating func connectFailed() {
        guard state == .connecting || state == .initial else { preconditionFailure("Invalid state: \(state)") }
        state = .closed
    }

    /// A request of `statementCount` statements (at least one), one command each.
    mutating func requestSubmitted(_ request: Request, statementCount: Int) -> SubmitAction {
        requestSubmitted(request, commands: Array(repeating: 1, count: statementCount))
    }

    /// A request whose statement `i` is sent as `commands[i]` commands (1 or 2), each
    /// answered by a result and a NULL, then one sync for the statement. A statement's
    /// result is its first failure, else its last command's result.
    mutating func requestSubmitted(_ request: Request, commands: [Int]) -> SubmitAction {
        precondition(!commands.isEmpty && commands.allSatisfy { $0 >= 1 }, "a request has at least one statement")
        guard state == .ready else { return .fail }
        let entry = InFlight(request: request, commands: commands)
        if head == nil { head = entry } else { queued.append(entry) }
        return .send
    }

    /// libpq returned a result (rows, command status, error) for the current command.
    mutating func resultReceived(_ result: StatementResult, isFailure: Bool = false) -> ResultAction {
        guard state == .ready, var current = head else {
            return .protocolViolation("a result arrived with no statement in flight")
        }
        switch current.phase {
        case .awaitingResult, .awaitingEnd:
            // An earlier failure (a failed prepare before the aborted execute) stays; an
            // error after rows replaces them.
            if current.pending?.isFailure != true { current.pending = (result, isFailure) }
            current.phase = .awaitingEnd
            head = current
            return .none
        case .awaitingSync:
            return .protocolViolation("a result arrived after its statement ended")
        }
    }

    /// libpq's `PQgetResult` returned NULL.
    mutating func endReceived() -> EndAction {
        guard state == .ready, var current = head, current.phase == .awaitingEnd else { return .nothingPending }
        current.commandsSeen += 1
        current.phase = current.commandsSeen < current.commands[current.results.count] ? .awaitingResult : .awaitingSync
        head = current
        return .consumed
    }

    /// libpq returned `PGRES_PIPELINE_SYNC`: the current statement is finished.
    mutating func syncReceived() -> ResultAction {
        guard state == .ready, let current = head else {
            return .protocolViolation("a pipeline sync arrived with no statement in flight")
        }
        guard current.phase == .awaitingSync, let pending = current.pending else {
            return .protocolViolation("a pipeline sync arrived before its statement's result")
        }
        head = nil  // so that `finished` owns its arrays (no copy on append)
        var finished = current
        finished.results.append(pending.result)
        if finished.results.count == finished.commands.count {
            head = queued.popFirst()
            if finished.isAbandoned {
                abandonedCount -= 1
                return .discarded(finished.request, finished.results)
            }
            return .complete(finished.request, finished.results)
        }
        finished.pending = nil
        finished.commandsSeen = 0
        finished.phase = .awaitingResult
        head = finished
        return .none
    }

    /// Abandons every request in flight that `isExpired` picks and that is not abandoned yet.
    /// - Returns: those requests, in sending order (their callers are to be answered now),
    ///   and the oldest request still live (whose deadline comes next).
    mutating func abandon(where isExpired: (Request) -> Bool) -> (abandoned: [Request], oldestLive: Request?) {
        var abandoned: [Request] = []
        var oldestLive: Request?
        func visit(_ entry: inout InFlight) {
            guard !entry.isAbandoned else { return }
            if isExpired(entry.request) {
                entry.isAbandoned = true
                abandoned.append(entry.request)
            } else if oldestLive == nil {
                oldestLive = entry.request
            }
        }
        guard state == .ready, var current = head else { return ([], nil) }
        visit(&current)
        head = current
        var rest = RingBuffer<InFlight>(initialCapacity: max(queued.count, 1))
        while var entry = queued.popFirst() {
            visit(&entry)
            rest.append(entry)
        }
        queued = rest
        abandonedCount += abandoned.count
        return (abandoned, oldestLive)
    }

    /// The connection is gone (or we close it): every request in flight that is not
    /// abandoned must fail.
    mutating func closed() -> [Request] {
        state = .closed
        var failed: [Request] = []
        if let current = head, !current.isAbandoned { failed.append(current.request) }
        head = nil
        while let entry = queued.popFirst() {
            if !entry.isAbandoned { failed.append(entry.request) }
        }
        abandonedCount = 0
        return failed
    }
}
