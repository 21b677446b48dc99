import Histogram

/// Everything measured for one endpoint on one loop; merged across loops at the end.
public struct EndpointStats: Sendable {
    /// Latency of every response (from the intended send time in the open model).
    public var latency = LatencyHistogram.make()
    /// Latency of responses with `X-Cache: HIT` and `MISS`.
    public var hitLatency = LatencyHistogram.make()
    public var missLatency = LatencyHistogram.make()
    /// Open model only: from the actual send, so the generator's backlog can be told apart.
    public var serviceTime: Histogram<UInt64>?
    public var requests = 0
    public var errors = 0
    public var hits = 0
    public var misses = 0
    public var bytes = 0
    public var statuses: [Int: Int] = [:]
    public var errorKinds: [LoadErrorKind: Int] = [:]

    public init(openModel: Bool) {
        if openModel { serviceTime = LatencyHistogram.make() }
    }

    /// Counts one completed request; times in nanoseconds.
    public mutating func record(_ result: LoadResult, latency: UInt64, serviceTime: UInt64) {
        requests += 1
        bytes += result.bytes
        if let kind = result.error {
            errors += 1
            errorKinds[kind, default: 0] += 1
            // Failed requests still took time; a timeout belongs in the tail.
            self.latency.record(LatencyHistogram.microseconds(latency))
            return
        }
        if result.isError { errors += 1 }
        statuses[result.status, default: 0] += 1
        let micros = LatencyHistogram.microseconds(latency)
        self.latency.record(micros)
        self.serviceTime?.record(LatencyHistogram.microseconds(serviceTime))
        switch result.cache {
        case .hit:
            hits += 1
            hitLatency.record(micros)
        case .miss:
            misses += 1
            missLatency.record(micros)
        case .none:
            break
        }
    }

    /// Adds `other`'s counts to these.
    public mutating func merge(_ other: EndpointStats) {
        latency.add(other.latency)
        hitLatency.add(other.hitLatency)
        missLatency.add(other.missLatency)
        if let theirs = other.serviceTime {
            if serviceTime == nil { serviceTime = LatencyHistogram.make() }
            serviceTime?.add(theirs)
        }
        requests += other.requests
        errors += other.errors
        hits += other.hits
        misses += other.misses
        bytes += other.bytes
        for (status, count) in other.statuses { statuses[status, default: 0] += count }
        for (kind, count) in other.errorKinds { errorKinds[kind, default: 0] += count }
    }
}
