import HTTP
import Synchronization

/// `marquee_http_requests_total{service,method,route,status}` and
/// `marquee_http_request_duration_seconds{service,method,route}`, recorded per loop.
///
/// `route` is the matched pattern (`/api/movies/{id:int}`), never the raw path, so the
/// number of series stays bounded; unmatched requests count under `unmatched`.
public final class RequestMetrics: Sendable {
    struct Key: Hashable, Sendable {
        let method: String
        let route: String
        let status: Int
    }

    struct Stats: Sendable {
        var latency = HistogramData(bucketCount: Metrics.latencyBuckets.count)
    }

    private final class Slot: Sendable {
        // Lock rule: taken by this slot's loop on each request (uncontended) and by a scrape.
        let table = Mutex<[Key: Stats]>([:])
    }

    public let service: String
    private let slots: [Slot]

    init(service: String, slotCount: Int) {
        self.service = service
        slots = (0..<slotCount).map { _ in Slot() }
    }

    /// Records one finished request. Any thread; cheap on a loop.
    public func record(method: HTTPMethod, route: String, status: Int, seconds: Double) {
        let key = Key(method: method.rawValue, route: route, status: status)
        let buckets = Metrics.latencyBuckets
        slots[Metrics.slot(slots.count)].table.withLock { table in
            table[key, default: Stats()].latency.observe(seconds, buckets: buckets)
        }
    }

    /// The count recorded for one series, over all loops (tests, dashboards).
    public func count(method: HTTPMethod, route: String, status: Int) -> UInt64 {
        let key = Key(method: method.rawValue, route: route, status: status)
        return slots.reduce(0) { total, slot in total + (slot.table.withLock { $0[key]?.latency.count } ?? 0) }
    }

    func write(to out: inout PrometheusText) {
        var merged: [Key: Stats] = [:]
        for slot in slots {
            let table = slot.table.withLock { $0 }
            for (key, stats) in table { merged[key, default: Stats()].latency.merge(stats.latency) }
        }
        let keys = merged.keys.sorted { ($0.route, $0.method, $0.status) < ($1.route, $1.method, $1.status) }
        out.header("marquee_http_requests_total", help: "HTTP requests served, by route pattern and status.",
                   type: "counter")
        for key in keys {
            let labels = [("service", service), ("method", key.method), ("route", key.route),
                          ("status", String(key.status))]
            out.sample("marquee_http_requests_total", labels: labels, value: Double(merged[key]?.latency.count ?? 0))
        }
        // Latency per (method, route), over all statuses.
        var byRoute: [String: (method: String, route: String, data: HistogramData)] = [:]
        for key in keys {
            guard let stats = merged[key] else { continue }
            let id = key.method + " " + key.route
            var entry = byRoute[id] ?? (key.method, key.route, HistogramData(bucketCount: Metrics.latencyBuckets.count))
            entry.data.merge(stats.latency)
            byRoute[id] = entry
        }
        out.header("marquee_http_request_duration_seconds", help: "HTTP request latency, by route pattern.",
                   type: "histogram")
        for id in byRoute.keys.sorted() {
            guard let entry = byRoute[id] else { continue }
            out.histogram("marquee_http_request_duration_seconds",
                          labels: [("service", service), ("method", entry.method), ("route", entry.route)],
                          buckets: Metrics.latencyBuckets, data: entry.data)
        }
    }
}

/// Builds Prometheus text format 0.0.4.
struct PrometheusText {
    var bytes: [UInt8] = []

    mutating func header(_ name: String, help: String, type: String) {
        append("# HELP \(name) ")
        for byte in help.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            default: bytes.append(byte)
            }
        }
        append("\n# TYPE \(name) \(type)\n")
    }

    mutating func sample(_ name: String, labels: [(String, String)], value: Double) {
        append(name)
        writeLabels(labels)
        bytes.append(0x20)
        append(Self.format(value))
        bytes.append(0x0A)
    }

    mutating func histogram(_ name: String, labels: [(String, String)], buckets: [Double], data: HistogramData) {
        var cumulative: UInt64 = 0
        for (index, bound) in buckets.enumerated() {
            cumulative &+= data.counts[index]
            sample(name + "_bucket", labels: labels + [("le", Self.format(bound))], value: Double(cumulative))
        }
        sample(name + "_bucket", labels: labels + [("le", "+Inf")], value: Double(data.count))
        sample(name + "_sum", labels: labels, value: data.sum)
        sample(name + "_count", labels: labels, value: Double(data.count))
    }

    private mutating func writeLabels(_ labels: [(String, String)]) {
        guard !labels.isEmpty else { return }
        bytes.append(UInt8(ascii: "{"))
        for (index, (name, value)) in labels.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            append(name)
            append("=\"")
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): append("\\\\")
                case UInt8(ascii: "\""): append("\\\"")
                case 0x0A: append("\\n")
                default: bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// Integral values without a fraction (`42`), others shortest round-trip, `+Inf`/`-Inf`/`NaN`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return value.description
    }
}
