import Histogram

/// The result of a run as data: what the terminal table, `--json` and `--html` show, and
/// what the SLO gate checks. Times are milliseconds, rates fractions (0.99 = 99%).
public struct LoadReport: Codable, Sendable {
    public struct Settings: Codable, Sendable {
        public var url: String
        public var scenario: String
        public var mix: String?
        /// "closed" or "open".
        public var model: String
        /// Open model: the target rate, requests/s.
        public var rate: Double?
        public var connections: Int
        public var loops: Int
        public var durationSeconds: Double?
        public var requests: Int?
        public var warmupSeconds: Double
        public var zipf: Double
        public var movies: Int
        public var users: Int
        public var batchSize: Int
        public var seed: UInt64
        /// With `--http2`: the HTTP/2 connections the virtual users (streams) shared.
        public var http2Connections: Int?

        public init(
            url: String, scenario: String, mix: String?, model: String, rate: Double?, connections: Int, loops: Int,
            durationSeconds: Double?, requests: Int?, warmupSeconds: Double, zipf: Double, movies: Int, users: Int,
            batchSize: Int, seed: UInt64, http2Connections: Int? = nil
        ) {
            self.url = url
            self.scenario = scenario
            self.mix = mix
            self.model = model
            self.rate = rate
            self.connections = connections
            self.loops = loops
            self.durationSeconds = durationSeconds
            self.requests = requests
            self.warmupSeconds = warmupSeconds
            self.zipf = zipf
            self.movies = movies
            self.users = users
            self.batchSize = batchSize
            self.seed = seed
            self.http2Connections = http2Connections
        }
    }

    /// A latency distribution's summary, in milliseconds.
    public struct Latency: Codable, Sendable, Equatable {
        public var count: UInt64
        public var mean: Double
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
        /// (percentile, ms) pairs for the percentile chart: 0, 50, 75, 90, 99, 99.9, 99.99, 100.
        public var curve: [[Double]]

        public init(_ histogram: Histogram<UInt64>) {
            count = histogram.totalCount
            func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }
            mean = histogram.totalCount == 0 ? 0 : histogram.mean / 1000
            p50 = ms(histogram.valueAtPercentile(50))
            p90 = ms(histogram.valueAtPercentile(90))
            p99 = ms(histogram.valueAtPercentile(99))
            p999 = ms(histogram.valueAtPercentile(99.9))
            max = ms(histogram.totalCount == 0 ? 0 : histogram.max)
            curve = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100].map { percentile in
                [percentile, ms(histogram.valueAtPercentile(percentile))]
            }
        }
    }

    public struct EndpointReport: Codable, Sendable {
        public var name: String
        public var requests: Int
        public var throughput: Double
        public var bytes: Int
        public var errors: Int
        public var errorRate: Double
        /// Status code (as text, for JSON keys) → count.
        public var statusCodes: [String: Int]
        public var errorKinds: [String: Int]
        public var hits: Int
        public var misses: Int
        /// X-Cache hit rate among responses that carried the header; nil when none did.
        public var hitRate: Double?
        public var latency: Latency
        public var hitLatency: Latency?
        public var missLatency: Latency?
        /// Open model: latency from the actual send (without the backlog).
        public var serviceTime: Latency?
    }

    public struct Second: Codable, Sendable {
        public var second: Int
        public var requests: Int
        public var errors: Int
        public var hitRate: Double?
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var max: Double
    }

    /// One source's view of the cache over the measured window.
    public struct HitRateSource: Codable, Sendable {
        public var source: String
        public var hits: Double
        public var misses: Double
        public var hitRate: Double?
        /// Why this source has no figure (not asked for, unreachable, ...).
        public var note: String?

        public init(source: String, hits: Double, misses: Double, hitRate: Double?, note: String? = nil) {
            self.source = source
            self.hits = hits
            self.misses = misses
            self.hitRate = hitRate
            self.note = note
        }
    }

    public struct HitRates: Codable, Sendable {
        public var xCache: HitRateSource
        public var metrics: HitRateSource?
        public var redis: HitRateSource?
        /// The largest difference between two available hit rates, in percentage points.
        public var maxDisagreementPoints: Double?
    }

    public struct SLOCheck: Codable, Sendable {
        public var clause: String
        public var actual: Double?
        public var passed: Bool
        public var detail: String
    }

    public var tool = "marquee-loadtest"
    public var startedAt: String
    public var settings: Settings
    public var measuredSeconds: Double
    public var warmupRequests: Int
    /// Open model: requests intended before the end but never sent, because the target fell behind.
    public var unsentRequests: Int
    public var total: EndpointReport
    public var endpoints: [EndpointReport]
    public var timeline: [Second]
    public var hitRates: HitRates
    public var slo: [SLOCheck]?
}

extension LoadReport.EndpointReport {
    init(name: String, stats: EndpointStats, seconds: Double) {
        self.name = name
        requests = stats.requests
        throughput = seconds > 0 ? Double(stats.requests) / seconds : 0
        bytes = stats.bytes
        errors = stats.errors
        errorRate = stats.requests > 0 ? Double(stats.errors) / Double(stats.requests) : 0
        statusCodes = Dictionary(uniqueKeysWithValues: stats.statuses.map { (String($0.key), $0.value) })
        errorKinds = Dictionary(uniqueKeysWithValues: stats.errorKinds.map { ($0.key.rawValue, $0.value) })
        hits = stats.hits
        misses = stats.misses
        hitRate = stats.hits + stats.misses > 0 ? Double(stats.hits) / Double(stats.hits + stats.misses) : nil
        latency = LoadReport.Latency(stats.latency)
        hitLatency = stats.hitLatency.totalCount > 0 ? LoadReport.Latency(stats.hitLatency) : nil
        missLatency = stats.missLatency.totalCount > 0 ? LoadReport.Latency(stats.missLatency) : nil
        serviceTime = stats.serviceTime.map { LoadReport.Latency($0) }
    }
}

extension LoadReport {
    /// Builds the report from a run's merged figures and the cache probes' readings.
    public init(
        settings: Settings, startedAt: String, outcome: LoadRunner.Outcome, metrics: HitRateSource?,
        redis: HitRateSource?
    ) {
        self.settings = settings
        self.startedAt = startedAt
        measuredSeconds = outcome.measuredSeconds
        warmupRequests = outcome.stats.warmupRequests
        unsentRequests = outcome.stats.unsentRequests
        let seconds = outcome.measuredSeconds
        total = EndpointReport(name: "all", stats: outcome.stats.overall, seconds: seconds)
        endpoints = outcome.stats.endpointStats.map { EndpointReport(name: $0.0.label, stats: $0.1, seconds: seconds) }
        timeline = outcome.stats.seconds.enumerated().map { index, second in
            func ms(_ percentile: Double) -> Double { Double(second.latency.valueAtPercentile(percentile)) / 1000 }
            let cached = second.hits + second.misses
            return Second(
                second: index, requests: second.requests, errors: second.errors,
                hitRate: cached > 0 ? Double(second.hits) / Double(cached) : nil,
                p50: ms(50), p90: ms(90), p99: ms(99),
                max: second.latency.totalCount > 0 ? Double(second.latency.max) / 1000 : 0)
        }
        let xCache = HitRateSource(
            source: "X-Cache header", hits: Double(total.hits), misses: Double(total.misses), hitRate: total.hitRate,
            note: total.hitRate == nil ? "no response carried X-Cache" : nil)
        let rates = [xCache.hitRate, metrics?.hitRate, redis?.hitRate].compactMap { $0 }
        let disagreement = rates.count >= 2 ? ((rates.max() ?? 0) - (rates.min() ?? 0)) * 100 : nil
        hitRates = HitRates(xCache: xCache, metrics: metrics, redis: redis, maxDisagreementPoints: disagreement)
    }
}
