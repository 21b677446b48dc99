import Histogram

/// All figures of a run, or of one loop's share of it: per endpoint, per second, overall.
///
/// Each loop fills its own (see ``LoopRecorder``) with no lock; the runner merges them
/// when every worker has finished.
public struct RunStats: Sendable {
    /// Indexed by ``Endpoint/rawValue``; nil until that endpoint is first seen.
    public private(set) var endpoints: [EndpointStats?] = Array(repeating: nil, count: Endpoint.allCases.count)
    public private(set) var seconds: [SecondStats] = []
    /// Every measured response, for the live p99 and the totals.
    public private(set) var overall: EndpointStats
    /// Requests completed during the warm-up, not in any figure above.
    public private(set) var warmupRequests = 0
    /// Open model: requests the schedule owed at the end but never sent (target too slow).
    public private(set) var unsentRequests = 0
    public let openModel: Bool

    public init(openModel: Bool) {
        self.openModel = openModel
        overall = EndpointStats(openModel: openModel)
    }

    /// Counts a request that completed during the warm-up.
    public mutating func recordWarmup() {
        warmupRequests += 1
    }

    public mutating func recordUnsent(_ count: Int) {
        unsentRequests += count
    }

    /// Counts a measured request that completed in second `second` of the measurement.
    public mutating func record(
        _ endpoint: Endpoint, _ result: LoadResult, latency: UInt64, serviceTime: UInt64, second: Int
    ) {
        let index = endpoint.rawValue
        if endpoints[index] == nil { endpoints[index] = EndpointStats(openModel: openModel) }
        endpoints[index]?.record(result, latency: latency, serviceTime: serviceTime)
        overall.record(result, latency: latency, serviceTime: serviceTime)
        guard second >= 0 else { return }
        while seconds.count <= second { seconds.append(SecondStats()) }
        seconds[second].requests += 1
        seconds[second].bytes += result.bytes
        if result.isError { seconds[second].errors += 1 }
        switch result.cache {
        case .hit: seconds[second].hits += 1
        case .miss: seconds[second].misses += 1
        case .none: break
        }
        seconds[second].latency.record(LatencyHistogram.microseconds(latency))
    }

    /// Adds `other` (another loop's figures) to these.
    public mutating func merge(_ other: RunStats) {
        for (index, theirs) in other.endpoints.enumerated() {
            guard let theirs else { continue }
            if endpoints[index] == nil { endpoints[index] = EndpointStats(openModel: openModel) }
            endpoints[index]?.merge(theirs)
        }
        overall.merge(other.overall)
        while seconds.count < other.seconds.count { seconds.append(SecondStats()) }
        for (second, theirs) in other.seconds.enumerated() { seconds[second].merge(theirs) }
        warmupRequests += other.warmupRequests
        unsentRequests += other.unsentRequests
    }

    /// The endpoints seen, in ``Endpoint`` order.
    public var endpointStats: [(Endpoint, EndpointStats)] {
        endpoints.enumerated().compactMap { index, stats in
            guard let stats, let endpoint = Endpoint(rawValue: index) else { return nil }
            return (endpoint, stats)
        }
    }
}
