import CoreMetrics
import HTTP
import Prometheus
import Synchronization

/// `marquee_http_requests_total{service,method,route,status}` (a swift-metrics `Counter`) and
/// `marquee_http_request_duration_seconds{service,method,route}` (a `Timer`).
///
/// `route` is the matched pattern (`/api/movies/{id:int}`), never the raw path, so the
/// number of series stays bounded; unmatched requests count under `unmatched`. A series is
/// made on its first request and kept in a table per loop, so recording is a look-up in the
/// caller's loop's own table and then swift-prometheus's atomic and histogram.
public final class RequestMetrics: Sendable {
    struct Key: Hashable, Sendable {
        let method: String
        let route: String
        let status: Int
    }

    struct Series: Sendable {
        let requests: CoreMetrics.Counter
        let latency: CoreMetrics.Timer
    }

    private final class Slot: Sendable {
        // Lock rule: taken by this slot's loop on each request (uncontended) and by nobody else;
        // callers off the loops share the last slot.
        let table = Mutex<[Key: Series]>([:])
    }

    public let service: String
    private let slots: [Slot]
    private let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let buckets = Metrics.durations(Metrics.latencyBuckets)

    init(service: String, slotCount: Int, registry: PrometheusCollectorRegistry, factory: PrometheusMetricsFactory) {
        self.service = service
        self.registry = registry
        self.factory = factory
        slots = (0..<slotCount).map { _ in Slot() }
    }

    /// Records one finished request. Any thread; cheap on a loop.
    public func record(method: HTTPMethod, route: String, status: Int, nanoseconds: UInt64) {
        let key = Key(method: method.rawValue, route: route, status: status)
        let series = slots[Metrics.slot(slots.count)].table.withLock { table in
            if let series = table[key] { return series }
            let series = makeSeries(key)
            table[key] = series
            return series
        }
        series.requests.increment()
        series.latency.recordNanoseconds(Int64(truncatingIfNeeded: nanoseconds))
    }

    /// The registry returns the same handler for the same name and labels, so each loop's
    /// table holds the shared series.
    private func makeSeries(_ key: Key) -> Series {
        let countLabels = [("service", service), ("method", key.method), ("route", key.route),
                           ("status", String(key.status))]
        let latencyLabels = [("service", service), ("method", key.method), ("route", key.route)]
        let counter = registry.makeCounter(
            descriptor: Metrics.descriptor(
                "marquee_http_requests_total", help: "HTTP requests served, by route pattern and status."),
            labels: countLabels)
        let histogram = registry.makeDurationHistogram(
            descriptor: Metrics.descriptor(
                "marquee_http_request_duration_seconds", help: "HTTP request latency, by route pattern."),
            labels: latencyLabels, buckets: buckets)
        return Series(
            requests: CoreMetrics.Counter(
                label: "marquee_http_requests_total", dimensions: countLabels, handler: counter, factory: factory),
            latency: CoreMetrics.Timer(
                label: "marquee_http_request_duration_seconds", dimensions: latencyLabels, handler: histogram,
                factory: factory))
    }
}
