import CoreMetrics
import Prometheus
import Reactor
import Synchronization

/// A process's metrics: swift-metrics objects (`Counter`, `Meter`, `Timer`) whose handlers live
/// in swift-prometheus's ``PrometheusCollectorRegistry``, exposed as Prometheus text 0.0.4
/// (``exposition()``).
///
/// Each series is registered here with its help text (the swift-metrics API has no place for
/// one) and handed back as a swift-metrics object; each executable also bootstraps
/// `MetricsSystem` with a factory over the same registry, so series that other libraries make
/// through swift-metrics appear in the same `/metrics`. Figures kept elsewhere (pool sizes, a
/// driver's totals) are read when a scrape asks, never on the request path.
///
/// Hot-path rule: recording is what swift-prometheus does (a relaxed atomic for a counter, a
/// short lock per histogram); nothing here adds a lock shared between loops.
public final class Metrics: Sendable {
    /// The default latency buckets, in seconds: 0.5 ms to 5 s.
    public static let latencyBuckets: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ]

    /// `Content-Type` of ``exposition()``.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Where every series lives.
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory over ``registry`` (what `MetricsSystem.bootstrap` takes).
    public let factory: PrometheusMetricsFactory
    public let requests: RequestMetrics
    // Lock rule: taken at registration and by a scrape (which it serialises), never when recording.
    private let readAtScrape = Mutex<[ScrapedSeries]>([])
    private let collectors = Mutex<[@Sendable () async -> Void]>([])

    /// - Parameters:
    ///   - service: the `service` label of the HTTP series.
    ///   - loopCount: the group's loop count (`LOOPS`); loops beyond it share slots.
    ///   - registry: the process's registry (the one `MetricsSystem` was bootstrapped with);
    ///     tests leave the default, a registry of their own.
    public init(service: String, loopCount: Int, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        factory = PrometheusMetricsFactory(registry: registry)
        requests = RequestMetrics(
            service: service, slotCount: max(1, loopCount) + 1, registry: registry, factory: factory)
    }

    /// The slot for the calling thread: its loop's, or the last one off the loops.
    @inline(__always)
    static func slot(_ count: Int) -> Int {
        guard let loop = EventLoop.current else { return count - 1 }
        return loop.index % (count - 1)
    }

    // MARK: Registration (at start-up)

    /// A counter its owner increments.
    public func counter(_ name: String, help: String, labels: KeyValuePairs<String, String> = [:]) -> CoreMetrics.Counter {
        let dimensions = Self.pairs(labels)
        let handler = registry.makeCounter(descriptor: Self.descriptor(name, help: help), labels: dimensions)
        return CoreMetrics.Counter(label: name, dimensions: dimensions, handler: handler, factory: factory)
    }

    /// A counter read at scrape time from a total kept elsewhere (a driver's, a relay's):
    /// `value` runs on the scraping task and must be cheap and thread-safe.
    public func counter(
        _ name: String, help: String, labels: KeyValuePairs<String, String> = [:],
        value: @escaping @Sendable () -> Double
    ) {
        let counter = counter(name, help: help, labels: labels)
        readAtScrape.withLock { $0.append(.counter(counter, last: 0, read: value)) }
    }

    /// A gauge its owner sets (`Meter.set`).
    public func meter(_ name: String, help: String, labels: KeyValuePairs<String, String> = [:]) -> Meter {
        let dimensions = Self.pairs(labels)
        let handler = registry.makeGauge(descriptor: Self.descriptor(name, help: help), labels: dimensions)
        return Meter(label: name, dimensions: dimensions, handler: handler, factory: factory)
    }

    /// A gauge read at scrape time (pool sizes, cache figures): `value` runs on the scraping
    /// task and must be cheap and thread-safe.
    public func gauge(
        _ name: String, help: String, labels: KeyValuePairs<String, String> = [:],
        value: @escaping @Sendable () -> Double
    ) {
        let meter = meter(name, help: help, labels: labels)
        readAtScrape.withLock { $0.append(.gauge(meter, read: value)) }
    }

    /// A latency histogram (seconds, with `buckets` as upper bounds).
    public func timer(
        _ name: String, help: String, buckets: [Double] = Metrics.latencyBuckets,
        labels: KeyValuePairs<String, String> = [:]
    ) -> CoreMetrics.Timer {
        let dimensions = Self.pairs(labels)
        let handler = registry.makeDurationHistogram(
            descriptor: Self.descriptor(name, help: help), labels: dimensions, buckets: Self.durations(buckets))
        return CoreMetrics.Timer(label: name, dimensions: dimensions, handler: handler, factory: factory)
    }

    /// Work that runs before each scrape and sets meters from figures that live on other
    /// loops (a pool's statistics, read on its own loop).
    public func collect(_ collector: @escaping @Sendable () async -> Void) {
        collectors.withLock { $0.append(collector) }
    }

    // MARK: Exposition

    /// The whole registry in Prometheus text format 0.0.4, figures read at scrape time included.
    public func exposition() async -> [UInt8] {
        for collector in collectors.withLock({ $0 }) { await collector() }
        readAtScrape.withLock { series in
            for index in series.indices {
                switch series[index] {
                case .gauge(let meter, let read):
                    meter.set(read())
                case .counter(let counter, let last, let read):
                    // Prometheus counters only grow: add what the total gained since the last scrape.
                    let total = Int64(max(0, read()))
                    if total > last {
                        counter.increment(by: total - last)
                        series[index] = .counter(counter, last: total, read: read)
                    }
                }
            }
        }
        return registry.emitToBuffer()
    }

    static func pairs(_ labels: KeyValuePairs<String, String>) -> [(String, String)] {
        labels.map { ($0.key, $0.value) }
    }

    /// A whole metric name (no namespace or unit parts) and its help text.
    static func descriptor(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    static func durations(_ seconds: [Double]) -> [Duration] {
        precondition(seconds == seconds.sorted(), "histogram buckets must be increasing")
        return seconds.map { .nanoseconds(Int64(($0 * 1e9).rounded())) }
    }

    private enum ScrapedSeries: Sendable {
        case gauge(Meter, read: @Sendable () -> Double)
        case counter(CoreMetrics.Counter, last: Int64, read: @Sendable () -> Double)
    }
}
