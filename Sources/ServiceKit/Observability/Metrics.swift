import Reactor
import Synchronization

/// A Prometheus registry: counters, closure-backed gauges, histograms, and the per-route
/// HTTP figures, exposed in text format 0.0.4 (``exposition()``).
///
/// Hot-path rule: recording never touches shared state. Every series keeps one slot per
/// event loop (`EventLoop.current.index`, plus one for callers off the loops); counters are
/// relaxed atomics in their own slot, histograms and the route table sit behind a Mutex
/// per slot that only its loop takes, except for a scrape, which merges the slots.
public final class Metrics: Sendable {
    /// The default latency buckets, in seconds: 0.5 ms to 5 s.
    public static let latencyBuckets: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ]

    public let slotCount: Int
    public let requests: RequestMetrics
    // Lock rule: taken only at registration and scrape.
    private let families = Mutex<[Family]>([])

    /// - Parameters:
    ///   - service: the `service` label of the HTTP series.
    ///   - loopCount: the group's loop count (`LOOPS`); loops beyond it share slots.
    public init(service: String, loopCount: Int) {
        slotCount = max(1, loopCount) + 1
        requests = RequestMetrics(service: service, slotCount: slotCount)
    }

    /// The slot for the calling thread: its loop's, or the last one off the loops.
    @inline(__always)
    static func slot(_ count: Int) -> Int {
        guard let loop = EventLoop.current else { return count - 1 }
        return loop.index % (count - 1)
    }

    // MARK: Registration (at start-up)

    public func counter(_ name: String, help: String, labels: KeyValuePairs<String, String> = [:]) -> Counter {
        let counter = Counter(slotCount: slotCount)
        register(name, help: help, type: "counter", labels: labels, series: .counter(counter))
        return counter
    }

    /// A gauge read at scrape time (pool sizes, cache figures): `value` runs on the
    /// scraping task and must be cheap and thread-safe.
    public func gauge(
        _ name: String, help: String, labels: KeyValuePairs<String, String> = [:],
        value: @escaping @Sendable () -> Double
    ) {
        register(name, help: help, type: "gauge", labels: labels, series: .gauge(value))
    }

    /// A counter read at scrape time from a figure kept elsewhere (a driver's totals).
    public func counter(
        _ name: String, help: String, labels: KeyValuePairs<String, String> = [:],
        value: @escaping @Sendable () -> Double
    ) {
        register(name, help: help, type: "counter", labels: labels, series: .gauge(value))
    }

    public func histogram(
        _ name: String, help: String, buckets: [Double] = Metrics.latencyBuckets,
        labels: KeyValuePairs<String, String> = [:]
    ) -> Histogram {
        let histogram = Histogram(buckets: buckets, slotCount: slotCount)
        register(name, help: help, type: "histogram", labels: labels, series: .histogram(histogram))
        return histogram
    }

    private func register(
        _ name: String, help: String, type: String, labels: KeyValuePairs<String, String>, series: Series
    ) {
        let labelPairs = labels.map { ($0.key, $0.value) }
        families.withLock { families in
            if let index = families.firstIndex(where: { $0.name == name }) {
                precondition(families[index].type == type, "metric \(name) registered with two types")
                families[index].series.append((labelPairs, series))
            } else {
                families.append(Family(name: name, help: help, type: type, series: [(labelPairs, series)]))
            }
        }
    }

    // MARK: Exposition

    /// The whole registry in Prometheus text format 0.0.4.
    public func exposition() -> [UInt8] {
        var out = PrometheusText()
        requests.write(to: &out)
        let snapshot = families.withLock { $0 }
        for family in snapshot {
            out.header(family.name, help: family.help, type: family.type)
            for (labels, series) in family.series {
                switch series {
                case .counter(let counter): out.sample(family.name, labels: labels, value: Double(counter.value))
                case .gauge(let read): out.sample(family.name, labels: labels, value: read())
                case .histogram(let histogram):
                    let merged = histogram.snapshot()
                    out.histogram(family.name, labels: labels, buckets: histogram.buckets, data: merged)
                }
            }
        }
        return out.bytes
    }

    /// `Content-Type` of ``exposition()``.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private struct Family: Sendable {
        let name: String
        let help: String
        let type: String
        var series: [([(String, String)], Series)]
    }

    private enum Series: Sendable {
        case counter(Counter)
        case gauge(@Sendable () -> Double)
        case histogram(Histogram)
    }
}

/// A monotonically increasing count, one relaxed atomic per loop.
public final class Counter: Sendable {
    private final class Cell: Sendable {
        let value = Atomic<UInt64>(0)
    }

    private let cells: [Cell]

    init(slotCount: Int) { cells = (0..<slotCount).map { _ in Cell() } }

    /// Adds `amount`; any thread, lock-free.
    @inline(__always)
    public func increment(by amount: UInt64 = 1) {
        cells[Metrics.slot(cells.count)].value.wrappingAdd(amount, ordering: .relaxed)
    }

    /// The sum over all loops.
    public var value: UInt64 { cells.reduce(0) { $0 &+ $1.value.load(ordering: .relaxed) } }
}

/// Counts and sum of observations per bucket.
struct HistogramData: Sendable {
    var counts: [UInt64]
    var sum: Double = 0
    var count: UInt64 = 0

    init(bucketCount: Int) { counts = [UInt64](repeating: 0, count: bucketCount) }

    @inline(__always)
    mutating func observe(_ value: Double, buckets: [Double]) {
        // Non-cumulative per bucket; made cumulative at exposition. Linear: 13 buckets.
        var index = 0
        while index < buckets.count && value > buckets[index] { index += 1 }
        if index < buckets.count { counts[index] &+= 1 }
        sum += value
        count &+= 1
    }

    mutating func merge(_ other: HistogramData) {
        for i in counts.indices { counts[i] &+= other.counts[i] }
        sum += other.sum
        count &+= other.count
    }
}

/// A histogram with fixed buckets; observations go to the caller's loop's slot.
public final class Histogram: Sendable {
    public let buckets: [Double]
    // Lock rule: slot i is taken by loop i on each observation (uncontended) and by a scrape.
    private let slots: [Slot]

    /// A class box: arrays cannot hold the non-copyable `Mutex` directly.
    private final class Slot: Sendable {
        let data: Mutex<HistogramData>
        init(_ data: HistogramData) { self.data = Mutex(data) }
    }

    init(buckets: [Double], slotCount: Int) {
        precondition(buckets == buckets.sorted(), "histogram buckets must be increasing")
        self.buckets = buckets
        slots = (0..<slotCount).map { _ in Slot(HistogramData(bucketCount: buckets.count)) }
    }

    public func observe(_ value: Double) {
        let buckets = self.buckets
        slots[Metrics.slot(slots.count)].data.withLock { $0.observe(value, buckets: buckets) }
    }

    func snapshot() -> HistogramData {
        var merged = HistogramData(bucketCount: buckets.count)
        for slot in slots { merged.merge(slot.data.withLock { $0 }) }
        return merged
    }
}
