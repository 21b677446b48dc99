/// How a run loads the target: the model, its size and its length.
public struct RunConfiguration: Sendable {
    public enum Model: Sendable, Equatable {
        /// N connections, each sending its next request as soon as the last one answered.
        case closed
        /// A fixed total rate (requests/s) spread over the connections; latency from the
        /// intended send time.
        case open(rate: Double)
    }

    public var model: Model
    public var connections: Int
    /// Measured length; nil when ``requests`` bounds the run instead.
    public var duration: Duration?
    /// Measured request count (split over the connections); nil for a timed run.
    public var requests: Int?
    /// Traffic before the measurement starts, left out of every figure.
    public var warmup: Duration
    public var seed: UInt64

    public init(
        model: Model, connections: Int, duration: Duration?, requests: Int? = nil, warmup: Duration = .zero,
        seed: UInt64 = 0x5EED
    ) {
        self.model = model
        self.connections = max(1, connections)
        self.duration = duration
        self.requests = requests
        self.warmup = warmup
        self.seed = seed
    }

    public var isOpen: Bool {
        if case .open = model { return true }
        return false
    }
}
