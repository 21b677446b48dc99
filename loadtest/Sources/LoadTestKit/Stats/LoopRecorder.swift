import Histogram
import Reactor

/// One loop's ``RunStats``, isolated to that loop: the workers on the loop record into it
/// without a lock and without a thread hop (their tasks already run on the loop).
public actor LoopRecorder {
    public nonisolated let unownedExecutor: UnownedSerialExecutor
    private var stats: RunStats

    public init(loop: EventLoop, openModel: Bool) {
        unownedExecutor = loop.asUnownedSerialExecutor()
        stats = RunStats(openModel: openModel)
    }

    public func recordWarmup() {
        stats.recordWarmup()
    }

    public func recordUnsent(_ count: Int) {
        stats.recordUnsent(count)
    }

    public func record(_ endpoint: Endpoint, _ result: LoadResult, latency: UInt64, serviceTime: UInt64, second: Int) {
        stats.record(endpoint, result, latency: latency, serviceTime: serviceTime, second: second)
    }

    /// What the live progress line needs, copied out (once a second).
    public func live() -> LiveCounters {
        LiveCounters(
            warmupRequests: stats.warmupRequests, requests: stats.overall.requests, errors: stats.overall.errors,
            hits: stats.overall.hits, misses: stats.overall.misses, latency: stats.overall.latency)
    }

    /// The figures so far (at the end: the loop's share of the run).
    public func snapshot() -> RunStats { stats }
}

/// Cumulative counters for the progress line.
public struct LiveCounters: Sendable {
    public var warmupRequests = 0
    public var requests = 0
    public var errors = 0
    public var hits = 0
    public var misses = 0
    public var latency = LatencyHistogram.make()

    public mutating func merge(_ other: LiveCounters) {
        warmupRequests += other.warmupRequests
        requests += other.requests
        errors += other.errors
        hits += other.hits
        misses += other.misses
        latency.add(other.latency)
    }
}
