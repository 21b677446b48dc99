import Histogram
@testable import LoadTestKit
import Testing

@Suite struct RunStatsMergeTests {
    @Test func mergingLoopsEqualsRecordingEverythingInOne() {
        var loops = [RunStats(openModel: false), RunStats(openModel: false), RunStats(openModel: false)]
        var single = RunStats(openModel: false)
        var random = SplitMix64(seed: 5)
        for index in 0..<30_000 {
            let latency = UInt64(20_000 + random.next() % 5_000_000)  // 20 µs … 5 ms, in ns
            let cache: CacheOutcome = index % 10 == 0 ? .miss : .hit
            let status = index % 100 == 0 ? 503 : 200
            let result = LoadResult(status: status, cache: cache, bytes: 100)
            let endpoint: Endpoint = index % 3 == 0 ? .movieBatch : .movieByID
            let second = index / 10_000
            loops[index % 3].record(endpoint, result, latency: latency, serviceTime: latency, second: second)
            single.record(endpoint, result, latency: latency, serviceTime: latency, second: second)
        }
        loops[1].recordWarmup()
        var merged = RunStats(openModel: false)
        for loop in loops { merged.merge(loop) }

        #expect(merged.overall.requests == 30_000)
        #expect(merged.overall.latency == single.overall.latency)
        #expect(merged.overall.latency.valueAtPercentile(99) == single.overall.latency.valueAtPercentile(99))
        #expect(merged.overall.hits == single.overall.hits && merged.overall.misses == single.overall.misses)
        #expect(merged.overall.statuses == [200: 29_700, 503: 300])
        #expect(merged.overall.errors == 300)
        #expect(merged.warmupRequests == 1)
        #expect(merged.seconds.count == 3)
        #expect(merged.seconds.map(\.requests) == [10_000, 10_000, 10_000])
        for (endpoint, stats) in merged.endpointStats {
            let reference = single.endpointStats.first { $0.0 == endpoint }?.1
            #expect(stats.latency == reference?.latency)
            #expect(stats.hitLatency == reference?.hitLatency)
            #expect(stats.missLatency == reference?.missLatency)
        }
    }

    @Test func transportErrorsAreCountedByKindAndInTheTail() {
        var stats = EndpointStats(openModel: false)
        stats.record(.failed(.timeout), latency: 5_000_000_000, serviceTime: 5_000_000_000)
        stats.record(LoadResult(status: 200), latency: 100_000, serviceTime: 100_000)
        #expect(stats.errors == 1)
        #expect(stats.errorKinds == [.timeout: 1])
        #expect(stats.latency.max >= 4_990_000)  // µs
    }
}
