import CLibPQ
import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection driven by its loop's epoll: the I/O shell around
/// ``PostgresConnectionStateMachine``.
///
/// Loop-bound (``LoopBound``): every method ending in `0` runs on `loop`'s thread only, which
/// is what makes the `@unchecked Sendable` sound (the pool hops to the loop before touching it).
///
/// The connection is always in libpq's pipeline mode, so many callers' queries share its
/// round trips: each request is written at once (`PQpipelineSync` flushes) and results are
/// read as they come, in order. The socket is registered level-triggered, because
/// `PQconsumeInput` does not promise to drain it; write interest is added only while
/// `PQflush` reports unsent data, and then read interest stays on so that the server can
/// never block on us while we block on it.
///
/// Every request carries a deadline. One timer per connection watches the oldest live
/// request's; when one passes, its caller gets `.queryTimeout` at once, the request stays
/// in place (abandoned) so that its late results are matched and dropped, and the server is
/// sent a cancel request (libpq 15's `PQcancel`, which blocks: it runs on
/// ``cancelPool``). A connection with abandoned requests, or whose cancel has not reached
/// the server yet, is *stalled*: the pool gives it no new work until they are answered and
/// the cancel is delivered (a cancel stops whatever the backend runs when it arrives, so a
/// late one would stop a later query), and closes it when the oldest stays unanswered for
/// another query timeout (a server that answers nothing, not even the cancel).
final class PostgresConnection: LoopBound, @unchecked Sendable {
    typealias Continuation = UnsafeContinuation<[PostgresStatementResult], any Error>

    let loop: EventLoop

    // MARK: Loop-only state.
    private var connection: OpaquePointer?
    private var registration: IORegistration?
    private var machine = PostgresConnectionStateMachine<PendingRequest, PostgresStatementResult>()
    /// Statements prepared on this connection: SQL text → server-side name. The server
    /// then parses and plans a hot query once per connection, not once per call (what
    /// `pgbench -M prepared` does). Bounded; statements past the bound go unnamed.
    private var preparedNames: [String: String] = [:]
    private var nextStatementNumber = 0
    static let maxPreparedStatements = 256

    /// A request in flight: whom to answer, and which of its statements it prepared (so that
    /// a statement whose preparation failed is prepared again next time).
    struct PendingRequest {
        let continuation: Continuation
        let newlyPrepared: [String?]?
        /// Monotonic nanoseconds past which the caller is answered with `.queryTimeout`.
        let deadline: UInt64
    }
    private var deadlineTimer: TimerHandle?
    /// How long an abandoned request may stay unanswered before the connection is closed.
    private var stallLimitNanoseconds: UInt64 = 0
    private var queryTimeout: Duration = .zero
    /// A cancel request is on its way (one at a time per connection).
    private var isCancelling = false

    /// The threads that send cancel requests: `PQcancel` connects to the server and waits for
    /// it to answer, which a stopped server never does; kept apart from the shared blocking
    /// pool so that password hashing and name lookups never queue behind it. At most one
    /// cancel per connection is in flight, so the queue is bounded by the pools' sizes.
    static let cancelPool = BlockingPool(threadCount: 2)
    private var connectTimer: TimerHandle?
    private var connectCompletion: ((Result<Void, PostgresError>) -> Void)?

    /// Called once when a connection that was ready closes, for whatever reason.
    var onClose: ((PostgresConnection) -> Void)?
    /// Called after each request completes (the pool serves its waiters from here).
    var onRequestCompleted: ((PostgresConnection) -> Void)?
    /// Pool bookkeeping: held by a transaction / kept free for one.
    var isLeased = false
    var isReserved = false

    init(loop: EventLoop) {
        self.loop = loop
    }

    var inFlightCount: Int { machine.inFlightCount }
    /// Some request in flight passed its deadline and has not been answered by the server,
    /// or the cancel sent for one has not been delivered yet.
    var isStalled: Bool { machine.abandonedCount > 0 || isCancelling }
    var isReady: Bool { machine.state == .ready }

    // MARK: Connecting

    /// Starts a non-blocking connect; `completion` runs on the loop, exactly once.
    func connect0(
        _ configuration: PostgresConfiguration, hostAddress: String? = nil,
        completion: @escaping (Result<Void, PostgresError>) -> Void
    ) {
        assertOnLoop()
        connectCompletion = completion
        queryTimeout = configuration.queryTimeout
        stallLimitNanoseconds = UInt64(max(0, configuration.queryTimeout.nanoseconds))
        machine.connectStarted()
        let pairs = configuration.libpqParameters(hostAddress: hostAddress)
        // Scoped: the strdup'd strings live until PQconnectStartParams has copied them.
        var keywords: [UnsafeMutablePointer<CChar>?] = pairs.map { strdup($0.0) }
        var values: [UnsafeMutablePointer<CChar>?] = pairs.map { strdup($0.1) }
        keywords.append(nil)
        values.append(nil)
        let keywordPointers = keywords.map { $0.map { UnsafePointer($0) } }
        let valuePointers = values.map { $0.map { UnsafePointer($0) } }
        let started = PQconnectStartParams(keywordPointers, valuePointers, 0)
        for pointer in keywords { free(pointer) }
        for pointer in values { free(pointer) }

        guard let started else {
            connectFailed0("out of memory starting a connection")
            return
        }
        connection = started
        // The default notice processor prints to stderr ("NOTICE: relation exists, skipping").
        PQsetNoticeProcessor(started, { _, _ in }, nil)
        if PQstatus(started) == CONNECTION_BAD {
            connectFailed0(Self.message(of: started))
            return
        }
        connectTimer = loop.schedule0(after: configuration.connectTimeout) { [weak self] in
            self?.connectTimer = nil
            self?.connectFailed0("timed out after \(configuration.connectTimeout)")
        }
        // libpq's first step of a TCP connect waits for writability.
        watchConnectSocket0(.write)
    }

    /// During the handshake libpq may replace its socket (another address, another attempt),
    /// so each step registers the current one afresh: a few `epoll_ctl` calls per connect,
    /// and never a stale descriptor in epoll.
    private func watchConnectSocket0(_ interest: IOInterest) {
        if let registration { loop.deregister0(registration) }
        registration = nil
        guard let connection else { return }
        let fd = PQsocket(connection)
        guard fd >= 0 else {
            connectFailed0("libpq has no socket")
            return
        }
        do {
            registration = try loop.register0(fd: fd, interest: interest) { [weak self] _ in self?.connectPoll0() }
        } catch {
            connectFailed0("cannot watch the socket: \(error)")
        }
    }

    private func connectPoll0() {
        guard let connection, machine.state == .connecting else { return }
        switch PQconnectPoll(connection) {
        case PGRES_POLLING_OK:
            connectSucceeded0()
        case PGRES_POLLING_READING:
            watchConnectSocket0(.read)
        case PGRES_POLLING_WRITING:
            watchConnectSocket0(.write)
        default:
            connectFailed0(Self.message(of: connection))
        }
    }

    private func connectSucceeded0() {
        guard let connection else { return }
        connectTimer?.cancel()
        connectTimer = nil
        guard PQsetnonblocking(connection, 1) == 0, PQenterPipelineMode(connection) == 1 else {
            connectFailed0("cannot enter non-blocking pipeline mode: \(Self.message(of: connection))")
            return
        }
        if let registration { loop.deregister0(registration) }
        registration = nil
        do {
            registration = try loop.register0(fd: PQsocket(connection), interest: .read) { [weak self] readiness in
                self?.socketReady0(readiness)
            }
        } catch {
            connectFailed0("cannot watch the socket: \(error)")
            return
        }
        machine.connected()
        let completion = connectCompletion
        connectCompletion = nil
        completion?(.success(()))
    }

    private func connectFailed0(_ message: String) {
        guard machine.state == .connecting || machine.state == .initial else { return }
        connectTimer?.cancel()
        connectTimer = nil
        release0()
        machine.connectFailed()
        let completion = connectCompletion
        connectCompletion = nil
        completion?(.failure(PostgresError(.connectionFailed, message: Self.trimmed(message))))
    }

    // MARK: Requests

    /// Sends a request's statements and resumes `continuation` with one result per statement,
    /// or throws `.connectionClosed` when the connection breaks first, `.queryTimeout` when
    /// `deadline` (monotonic nanoseconds) passes first.
    func submit0(_ request: PreparedRequest, deadline: UInt64, _ continuation: Continuation) {
        assertOnLoop()
        guard let connection, machine.state == .ready else {
            continuation.resume(throwing: PostgresError(.connectionClosed, message: "the connection is closed"))
            return
        }
        // Decide, per statement, between a cached prepared statement, preparing it now, or
        // sending it unnamed (DDL, transaction control, a full cache).
        var names: [String?] = []
        var commands: [Int] = []
        var newlyPrepared: [String?]?
        names.reserveCapacity(request.statements.count)
        commands.reserveCapacity(request.statements.count)
        for (index, statement) in request.statements.enumerated() {
            if let name = preparedNames[statement.sql] {
                names.append(name)
                commands.append(1)
            } else if preparedNames.count < Self.maxPreparedStatements, Self.isWorthPreparing(statement.sql) {
                let name = "marquee_\(nextStatementNumber)"
                nextStatementNumber += 1
                preparedNames[statement.sql] = name
                names.append(name)
                commands.append(2)
                if newlyPrepared == nil { newlyPrepared = Array(repeating: nil, count: request.statements.count) }
                newlyPrepared?[index] = statement.sql
            } else {
                names.append(nil)
                commands.append(1)
            }
        }
        guard case .send = machine.requestSubmitted(
            PendingRequest(continuation: continuation, newlyPrepared: newlyPrepared, deadline: deadline),
            commands: commands)
        else {
            continuation.resume(throwing: PostgresError(.connectionClosed, message: "the connection is closed"))
            return
        }
        if deadlineTimer == nil { armDeadlineTimer0(at: deadline) }
        for (index, statement) in request.statements.enumerated() {
            let count = Int32(statement.parameters.count)
            let sent = statement.sql.withCString { sql in
                statement.parameters.withPointers { values -> Int32 in
                    guard let name = names[index] else {
                        return PQsendQueryParams(connection, sql, count, nil, values, nil, nil, 0)
                    }
                    if commands[index] == 2, PQsendPrepare(connection, name, sql, count, nil) != 1 { return 0 }
                    return PQsendQueryPrepared(connection, name, count, values, nil, nil, 0)
                }
            }
            // PQpipelineSync also flushes, so a lone query costs one write.
            guard sent == 1, PQpipelineSync(connection) == 1 else {
                closeAfterError0(Self.message(of: connection))
                return
            }
        }
        flush0()
    }

    /// Statements that run often with different parameters; not DDL or BEGIN/COMMIT.
    static func isWorthPreparing(_ sql: String) -> Bool {
        var keyword = ""
        for character in sql.utf8 {
            if keyword.isEmpty, character == 32 || character == 10 || character == 9 || character == 13 { continue }
            guard (65...90).contains(character) || (97...122).contains(character), keyword.count < 7 else { break }
            keyword.append(Character(Unicode.Scalar(character | 0x20)))
        }
        return ["select", "insert", "update", "delete", "with", "values"].contains(keyword)
    }

    private func flush0() {
        guard let connection, let registration else { return }
        switch PQflush(connection) {
        case 0:
            try? loop.reregister0(registration, interest: .read)
        case 1:
            // Keep reading too: the server may be waiting for us to read before it reads more.
            try? loop.reregister0(registration, interest: [.read, .write])
        default:
            closeAfterError0(Self.message(of: connection))
        }
    }

    private func socketReady0(_ readiness: IOReadiness) {
        guard let connection, machine.state == .ready else { return }
        if readiness.isWritable, registration?.interest.contains(.write) == true {
            flush0()
        }
        guard readiness.isReadable, self.connection != nil else { return }
        if PQconsumeInput(connection) == 0 {
            closeAfterError0(Self.message(of: connection))
            return
        }
        drainResults0()
        if let current = self.connection, PQstatus(current) == CONNECTION_BAD {
            closeAfterError0(Self.message(of: current))
        }
    }

    /// Takes every result libpq has parsed and feeds it to the machine.
    private func drainResults0() {
        var consecutiveNulls = 0
        while let connection, PQisBusy(connection) == 0 {
            guard let result = PQgetResult(connection) else {
                if case .consumed = machine.endReceived() {
                    consecutiveNulls = 0
                    continue
                }
                // A NULL nobody waited for: libpq has nothing more now (one more try, since
                // a stray NULL may sit between a sync and the next statement's result).
                consecutiveNulls += 1
                if machine.inFlightCount == 0 || consecutiveNulls >= 2 { return }
                continue
            }
            consecutiveNulls = 0
            let status = PQresultStatus(result)
            let action: PostgresConnectionStateMachine<PendingRequest, PostgresStatementResult>.ResultAction
            switch status {
            case PGRES_PIPELINE_SYNC:
                PQclear(result)
                action = machine.syncReceived()
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
                action = machine.resultReceived(.success(PostgresRows(storage: PostgresResultStorage(result))))
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR:
                let error = Self.error(from: result)
                PQclear(result)
                if PQstatus(connection) == CONNECTION_BAD {
                    closeAfterError0(error.message)
                    return
                }
                action = machine.resultReceived(.failure(error), isFailure: true)
            case PGRES_PIPELINE_ABORTED:
                PQclear(result)
                action = machine.resultReceived(
                    .failure(PostgresError(.server, message: "not run: an earlier statement in its pipeline failed")),
                    isFailure: true)
            case PGRES_EMPTY_QUERY:
                PQclear(result)
                action = machine.resultReceived(
                    .failure(PostgresError(.syntaxError, message: "empty query")), isFailure: true)
            default:
                let name = String(cString: PQresStatus(status))
                PQclear(result)
                closeAfterError0("unexpected result \(name) (COPY is not supported)")
                return
            }
            switch action {
            case .none:
                break
            case .complete(let pending, let results):
                forgetFailedPreparations0(pending, results)
                pending.continuation.resume(returning: results)
                onRequestCompleted?(self)
            case .discarded(let pending, let results):
                // An abandoned request is answered at last: the connection may be free again.
                // Its preparations may have failed too (a prepare waits for the locks its
                // statement reads under, so a deadline can pass during it).
                forgetFailedPreparations0(pending, results)
                onRequestCompleted?(self)
            case .protocolViolation(let why):
                closeAfterError0(why)
                return
            }
        }
    }

    /// A statement whose preparation failed does not exist on the server: it is prepared
    /// again the next time it runs.
    private func forgetFailedPreparations0(_ pending: PendingRequest, _ results: [PostgresStatementResult]) {
        guard let newlyPrepared = pending.newlyPrepared else { return }
        for (index, sql) in newlyPrepared.enumerated() {
            if let sql, case .failure = results[index] { preparedNames[sql] = nil }
        }
    }

    // MARK: Deadlines

    /// Arms the connection's one deadline timer. Deadlines along the pipeline grow (a pool
    /// stamps them in the order it hands requests out), so the oldest live one comes first.
    private func armDeadlineTimer0(at deadline: UInt64) {
        let now = monotonicNanoseconds()
        let delay = deadline > now ? deadline - now : 0
        deadlineTimer = loop.schedule0(after: .nanoseconds(Int64(delay))) { [weak self] in
            guard let self else { return }
            self.deadlineTimer = nil
            self.deadlinePassed0()
        }
    }

    private func deadlinePassed0() {
        guard machine.state == .ready, let connection else { return }
        // Results that arrived while the loop was busy (or the process was stopped) count:
        // the timer may run before the read event of the same wake-up.
        if PQconsumeInput(connection) == 0 {
            closeAfterError0(Self.message(of: connection))
            return
        }
        drainResults0()
        guard machine.state == .ready else { return }
        let now = monotonicNanoseconds()
        let (abandoned, oldestLive) = machine.abandon { $0.deadline <= now }
        if !abandoned.isEmpty {
            let error = PostgresError(.queryTimeout, message: "no answer from the database within \(queryTimeout)")
            for pending in abandoned { pending.continuation.resume(throwing: error) }
            requestCancel0()
        }
        var next = oldestLive?.deadline
        if let oldest = machine.oldest, oldest.isAbandoned {
            let limit = oldest.request.deadline &+ stallLimitNanoseconds
            if limit <= now {
                closeAfterError0("the database answered nothing, not even a cancel, for \(queryTimeout) past a deadline")
                return
            }
            next = min(next ?? limit, limit)
        }
        if let next { armDeadlineTimer0(at: next) }
    }

    /// Asks the server to cancel what this connection's backend runs now (the abandoned
    /// request, or, if it finished meanwhile, whatever follows it: that one fails with
    /// `.queryCanceled`). The answer to the cancel is the abandoned request's results.
    private func requestCancel0() {
        guard !isCancelling, let connection, let cancel = PQgetCancel(connection) else { return }
        isCancelling = true
        let request = CancelRequest(cancel)
        Self.cancelPool.submit { [self] in
            request.send()
            loop.execute { [self] in
                isCancelling = false
                // The connection may take work again.
                onRequestCompleted?(self)
            }
        }
    }

    // MARK: Closing

    /// Closes the connection; requests in flight fail with `.connectionClosed`. Idempotent.
    func close0() {
        assertOnLoop()
        closeAfterError0("the connection was closed by the pool")
    }

    private func closeAfterError0(_ message: String) {
        guard machine.state == .ready else {
            connectFailed0(message)
            return
        }
        release0()
        let failed = machine.closed()
        let error = PostgresError(.connectionClosed, message: Self.trimmed(message))
        for pending in failed { pending.continuation.resume(throwing: error) }
        let onClose = self.onClose
        self.onClose = nil
        onRequestCompleted = nil
        onClose?(self)
    }

    /// Deregisters the socket (before libpq closes it) and frees the libpq connection.
    private func release0() {
        deadlineTimer?.cancel()
        deadlineTimer = nil
        if let registration { loop.deregister0(registration) }
        registration = nil
        if let connection { PQfinish(connection) }
        connection = nil
    }

    deinit {
        // A connection is closed by its pool on its loop; this only frees what a bug left.
        if let connection { PQfinish(connection) }
    }

    // MARK: Errors

    private static func message(of connection: OpaquePointer) -> String {
        String(cString: PQerrorMessage(connection))
    }

    private static func trimmed(_ message: String) -> String {
        var text = Substring(message)
        while let last = text.last, last.isNewline || last == " " { text.removeLast() }
        return text.isEmpty ? "connection lost" : String(text.replacingNewlines())
    }

    /// A server error's fields. The admin-shutdown family (57P01 on a server restart) means
    /// the connection is going away, so it is reported as `.connectionClosed`.
    private static func error(from result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let ascii = code.asciiValue, let pointer = PQresultErrorField(result, Int32(ascii)) else { return nil }
            return String(cString: pointer)
        }
        let sqlState = field("C")
        let message = field("M") ?? trimmed(String(cString: PQresultErrorMessage(result)))
        var detail = field("D")
        if let hint = field("H") { detail = (detail.map { $0 + " " } ?? "") + "Hint: " + hint }
        guard let sqlState else { return PostgresError(.connectionClosed, message: message, detail: detail) }
        let code: PostgresError.Code = sqlState.hasPrefix("57P") ? .connectionClosed : .forSQLState(sqlState)
        return PostgresError(code, message: message, sqlState: sqlState, detail: detail)
    }
}

/// libpq's cancel object, handed to a cancel thread and freed there.
private struct CancelRequest: @unchecked Sendable {
    // Unsafe pointer use: owned by this value alone from `PQgetCancel` to `PQfreeCancel`,
    // used on one thread at a time (made on the loop, sent and freed on a cancel thread).
    let cancel: OpaquePointer

    init(_ cancel: OpaquePointer) { self.cancel = cancel }

    /// Sends the cancel request and waits for the server to take it; frees the object.
    func send() {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
            // The error text, if any, is not needed: the deadline already answered the caller.
            _ = PQcancel(cancel, buffer.baseAddress, 256)
        }
        PQfreeCancel(cancel)
    }
}

extension Substring {
    fileprivate func replacingNewlines() -> String {
        String(map { $0.isNewline ? " " : $0 })
    }
}
