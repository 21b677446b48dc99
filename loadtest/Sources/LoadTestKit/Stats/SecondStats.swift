import Histogram

/// One second of the time series (by completion time), across all endpoints.
public struct SecondStats: Sendable {
    public var requests = 0
    public var errors = 0
    public var hits = 0
    public var misses = 0
    public var bytes = 0
    public var latency = LatencyHistogram.makeCoarse()

    public init() {}

    public mutating func merge(_ other: SecondStats) {
        requests += other.requests
        errors += other.errors
        hits += other.hits
        misses += other.misses
        bytes += other.bytes
        latency.add(other.latency)
    }
}
