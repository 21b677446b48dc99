/// The life of one Redis connection, without sockets: connect, lose, back off, reconnect.
///
/// The I/O shell (``RedisConnection``) does `let action = state.event(); run(action)`, so
/// every transition, and the backoff schedule, is testable in plain unit tests.
struct RedisConnectionStateMachine: Sendable {
    enum State: Equatable, Sendable {
        /// Created, not started.
        case idle
        /// A hiredis context exists and connects; `attempt` counts failures since the last success.
        case connecting(attempt: Int)
        case connected
        /// Waiting before the next attempt.
        case backingOff(attempt: Int)
        /// Closed by the owner; never reconnects.
        case closed
    }

    enum Action: Equatable, Sendable {
        case none
        /// Create a hiredis context and start connecting.
        case startConnecting
        /// Call ``backoffElapsed()`` after the delay.
        case scheduleReconnect(after: Duration)
    }

    private(set) var state: State = .idle
    /// Whether a connection ever succeeded: before that, commands may wait in the first
    /// connect (a client used right after creation); afterwards, while down, they fail fast.
    private(set) var hasConnected = false
    let initialBackoff: Duration
    let maximumBackoff: Duration

    init(initialBackoff: Duration, maximumBackoff: Duration) {
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// Whether a command may be handed to hiredis now. While connecting for the first time
    /// hiredis buffers it until the socket is up; when down after a loss it fails at once.
    var acceptsCommands: Bool {
        switch state {
        case .connected: true
        case .connecting: !hasConnected
        case .idle, .backingOff, .closed: false
        }
    }

    var isConnected: Bool { state == .connected }

    mutating func startRequested() -> Action {
        guard state == .idle else { return .none }
        state = .connecting(attempt: 0)
        return .startConnecting
    }

    mutating func connectSucceeded() -> Action {
        switch state {
        case .connecting:
            state = .connected
            hasConnected = true
        case .closed:
            break
        case .idle, .connected, .backingOff:
            preconditionFailure("Invalid state: \(state)")
        }
        return .none
    }

    /// The hiredis context is gone: a failed attempt, a lost connection, a timed-out connect.
    /// - Parameter jitter: a number in `0..<1` (random in production, fixed in tests).
    mutating func contextClosed(jitter: Double) -> Action {
        switch state {
        case .connecting(let attempt):
            state = .backingOff(attempt: attempt + 1)
            return .scheduleReconnect(after: backoff(attempt: attempt + 1, jitter: jitter))
        case .connected:
            // The first retry comes quickly: a restart is usually over in a moment.
            state = .backingOff(attempt: 0)
            return .scheduleReconnect(after: backoff(attempt: 0, jitter: jitter))
        case .closed:
            return .none
        case .idle, .backingOff:
            preconditionFailure("Invalid state: \(state)")
        }
    }

    mutating func backoffElapsed() -> Action {
        switch state {
        case .backingOff(let attempt):
            state = .connecting(attempt: attempt)
            return .startConnecting
        case .closed:
            return .none
        case .idle, .connecting, .connected:
            preconditionFailure("Invalid state: \(state)")
        }
    }

    mutating func closeRequested() -> Action {
        state = .closed
        return .none
    }

    /// `initialBackoff * 2^attempt`, capped at `maximumBackoff`, then scaled into
    /// `[50%, 100%)` by the jitter so that many clients do not reconnect in lockstep.
    func backoff(attempt: Int, jitter: Double) -> Duration {
        let base = Double(initialBackoff.nanoseconds)
        let cap = Double(maximumBackoff.nanoseconds)
        let raw = min(cap, base * Double(1 << min(attempt, 30)))
        let scaled = raw * (0.5 + 0.5 * min(max(jitter, 0), 1))
        return .nanoseconds(Int64(scaled))
    }
}
