import Redis
import Synchronization

/// The movie cache's ``CircuitBreaker`` for Redis, shared by every loop: after a Redis
/// that hangs (no reply, no reset) the service stops asking it, serves from PostgreSQL,
/// reports `"cache": "down"`, and probes until Redis answers again.
///
/// Any thread. The usual call (closed, nothing failing) reads one atomic and takes no lock;
/// failures and the open and half-open states go through the mutex.
public final class CacheBreaker: Sendable {
    // Lock rule: `machine` only under its mutex; `closedAndClean` mirrors
    // `machine.isClosedAndClean`, written under the mutex, read without it.
    private let machine: Mutex<CircuitBreaker<ContinuousClock>>
    private let closedAndClean = Atomic<Bool>(true)
    private let clock = ContinuousClock()

    /// - Parameters:
    ///   - openDuration: how long Redis is left alone before a probe.
    ///   - failureThreshold: fast failures in a row (refused, dropped) that open it; one
    ///     timeout does.
    public init(openDuration: Duration = .milliseconds(500), failureThreshold: Int = 5) {
        machine = Mutex(
            CircuitBreaker(policy: .init(failureThreshold: failureThreshold, openDuration: openDuration)))
    }

    /// Whether a Redis call may be made now, or is picked as the half-open probe.
    func callRequested() -> CircuitBreaker<ContinuousClock>.Decision {
        if closedAndClean.load(ordering: .relaxed) { return .allow }
        return machine.withLock { $0.callRequested(now: clock.now) }
    }

    /// Reports a call's outcome: a reply (an error reply too: Redis answered) or a failure.
    public func record(_ error: (any Error)?) {
        guard let error else {
            if closedAndClean.load(ordering: .relaxed) { return }
            update { $0.callSucceeded() }
            return
        }
        if let redisError = error as? RedisError {
            switch redisError.code {
            case .server, .protocolError:
                record(nil)
            case .timedOut:
                update { $0.callFailed(.timeout, now: clock.now) }
            default:
                update { $0.callFailed(.error, now: clock.now) }
            }
            return
        }
        update { $0.callFailed(.error, now: clock.now) }
    }

    /// Open or probing: the health check's `"cache": "down"`.
    public var isOpen: Bool {
        if closedAndClean.load(ordering: .relaxed) { return false }
        return machine.withLock { !$0.isClosed }
    }

    private func update(_ body: (inout CircuitBreaker<ContinuousClock>) -> Void) {
        machine.withLock { breaker in
            body(&breaker)
            closedAndClean.store(breaker.isClosedAndClean, ordering: .relaxed)
        }
    }
}
