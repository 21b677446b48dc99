import HTTP
import Logging
import Reactor
import ServiceKit
import Synchronization
import Telemetry

/// Delivers the `user_deletions` outbox to the watchlist service, so that a deleted user's
/// watchlist entries are removed even when the watchlist service is down at the moment of
/// deletion.
///
/// ## The contract with the watchlist service
/// `DELETE {WATCHLIST_SERVICE_URL}/internal/users/{user_id}/watchlist`, no body, with
/// `X-Request-ID: user-deletion-{outbox id}`:
/// - the watchlist service removes every entry of that user and answers **204**, also when
///   there was nothing to remove;
/// - it must be **idempotent**: one deletion can be delivered more than once (the user
///   service stopped between the call and marking the row; two replicas of the user service
///   delivered the same row);
/// - any 2xx marks the row delivered; anything else — refused connection, timeout, 404
///   (endpoint missing), 5xx — leaves it pending and it is retried with backoff, forever
///   (user ids are never reused, so a late delivery cannot hit a new user).
/// The route is internal: the gateway does not expose `/internal/...`.
///
/// ## How it runs
/// One relay per process, running on one loop (``run()``), started after migrations by the
/// service and cancelled at shutdown. It reads pending rows in batches (fewest attempts
/// first, then oldest), delivers them one by one, and marks each delivered. When nothing is
/// pending it sleeps until ``nudge()`` (called after each committed deletion, from any
/// loop) or `pollInterval` (which picks up rows written by other replicas or left by a
/// crash). After a connection failure it stops the batch and backs off
/// (``RetryBackoff``); after an error status it records the attempt and goes on with the
/// next row, so that one row the watchlist service keeps refusing cannot block the others.
public final class DeletionRelay: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// `WATCHLIST_SERVICE_URL`, without a trailing slash.
        public var watchlistServiceURL: String
        public var pollInterval: Duration = .seconds(5)
        public var batchSize: Int = 100
        public var requestTimeout: Duration = .seconds(5)
        public var backoff = RetryBackoff()

        public init(watchlistServiceURL: String) {
            var url = watchlistServiceURL
            while url.hasSuffix("/") { url.removeLast() }
            self.watchlistServiceURL = url
        }
    }

    public let configuration: Configuration
    public let loop: EventLoop
    let store: UserStore
    let client: HTTPClient
    let logger: Logger

    /// Rows delivered and attempts failed since start (metrics; any thread).
    public let delivered = Atomic<Int>(0)
    public let failedAttempts = Atomic<Int>(0)

    // MARK: Loop-only state
    /// A nudge arrived since the relay last looked at the table.
    private var nudged = false
    /// The relay's pending wait, resumed by a nudge, its timer or cancellation.
    private var waiter: UnsafeContinuation<Void, Never>?
    private var waitTimer: TimerHandle?
    /// Whether the pending wait ends on a nudge (not during a backoff).
    private var waitOnNudge = false

    public init(configuration: Configuration, store: UserStore, client: HTTPClient, loop: EventLoop, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.client = client
        self.loop = loop
        self.logger = logger
    }

    /// Tells the relay that a deletion was committed. Any thread; never waits.
    public func nudge() {
        loop.execute { self.nudged0() }
    }

    /// Delivers until the task is cancelled. Runs on ``loop`` (it moves there itself).
    public func run() async {
        await withTaskExecutorPreference(loop) { @concurrent in
            await self.runOnLoop()
        }
    }

    private func runOnLoop() async {
        var failures = 0
        while !Task.isCancelled {
            loop.preconditionInLoop()
            nudged = false
            let batch: [UserStore.PendingDeletion]
            do {
                batch = try await store.pendingDeletions(limit: configuration.batchSize)
            } catch {
                failures += 1
                logger.warning("deletion relay: cannot read the outbox", error: error)
                await wait(configuration.backoff.delay(afterFailures: failures, random: .random(in: 0...1)),
                           wakeOnNudge: false)
                continue
            }
            if batch.isEmpty {
                failures = 0
                await wait(configuration.pollInterval, wakeOnNudge: true)
                continue
            }
            var anyFailed = false
            for item in batch {
                if Task.isCancelled { return }
                let outcome = await deliver(item)
                switch outcome {
                case .delivered:
                    delivered.add(1, ordering: .relaxed)
                    do {
                        try await store.markDelivered(item.id)
                    } catch {
                        // Delivered but not marked: it will be delivered again, which the
                        // contract allows. Back off until the database is back.
                        logger.warning("deletion relay: cannot mark a delivery", error: error)
                        anyFailed = true
                    }
                case .refused(let reason), .unreachable(let reason):
                    failedAttempts.add(1, ordering: .relaxed)
                    anyFailed = true
                    try? await store.recordFailedAttempt(item.id, reason: reason)
                    logger.warning(
                        "deletion relay: delivery failed, will retry",
                        metadata: [
                            "user_id": .stringConvertible(item.userID), "attempts": .stringConvertible(item.attempts + 1),
                            "error": .string(reason),
                        ])
                }
                // Unreachable: the rest of the batch would fail the same way.
                if case .unreachable = outcome { break }
            }
            if anyFailed {
                failures += 1
                await wait(configuration.backoff.delay(afterFailures: failures, random: .random(in: 0...1)),
                           wakeOnNudge: false)
            } else {
                failures = 0
            }
        }
    }

    enum Outcome: Equatable {
        case delivered
        /// The watchlist service answered, but not with 2xx.
        case refused(String)
        /// No answer: connection refused, timeout.
        case unreachable(String)
    }

    /// One delivery attempt.
    func deliver(_ item: UserStore.PendingDeletion) async -> Outcome {
        let url = "\(configuration.watchlistServiceURL)/internal/users/\(item.userID)/watchlist"
        // The delivery is a span of the deleting request's trace (stored with the row), or of
        // a trace of its own for a row queued without one.
        let trace = item.traceparent.flatMap(TraceContext.init(traceparent:))?.child() ?? TraceContext.start()
        do {
            var headers: HTTPHeaders = ["X-Request-ID": "user-deletion-\(item.id)"]
            let tracing = TracePropagation.process
            tracing.inject(tracing.context(for: trace), into: &headers)
            let request = try HTTPClientRequest(method: .DELETE, url: url, headers: headers)
            let response = try await client.execute(request, timeout: configuration.requestTimeout)
            let code = response.status.code
            if (200..<300).contains(code) {
                logger.info(
                    "deletion relay: watchlist entries removed",
                    metadata: [
                        "user_id": .stringConvertible(item.userID), "status": .stringConvertible(code),
                        "trace_id": .string(trace.traceID),
                    ])
                return .delivered
            }
            return .refused("watchlist service answered \(code)")
        } catch {
            return .unreachable("watchlist service unreachable: \(error.code)")
        }
    }

    // MARK: Waiting (loop-only)

    /// Sleeps for `duration`, or until a nudge when `wakeOnNudge`, or until cancelled.
    private func wait(_ duration: Duration, wakeOnNudge: Bool) async {
        loop.preconditionInLoop()
        if wakeOnNudge && nudged { return }
        if Task.isCancelled { return }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                // Still on the loop: the continuation is stored before anything can resume it.
                self.waiter = continuation
                self.waitOnNudge = wakeOnNudge
                self.waitTimer = self.loop.schedule0(after: duration) { self.resumeWaiter0() }
            }
        } onCancel: {
            self.loop.execute { self.resumeWaiter0() }
        }
    }


    private func nudged0() {
        nudged = true
        if waitOnNudge { resumeWaiter0() }
    }

    private func resumeWaiter0() {
        waitTimer?.cancel()
        waitTimer = nil
        waitOnNudge = false
        if let waiter {
            self.waiter = nil
            waiter.resume()
        }
    }
}
