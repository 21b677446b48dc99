import ProcessMetrics
import Synchronization

/// The requests the gateway answered, by route class and status class (`1xx` to `5xx`; a
/// client that went away counts as its 499). Route classes: `upstream`, an answer relayed
/// from a service; `gateway`, one the gateway made itself (`/`, `/health`, the docs, 404,
/// 413, 429, redirects, and its 502/503/504 about an upstream).
///
/// Counting is one relaxed atomic add per request, with no lock and no table; the figures
/// become `marquee_gateway_requests_total{route,status}` when a scrape reads them. The
/// services' own `/metrics` count by route pattern.
final class RequestTally: Sendable {
    private final class Count: Sendable {
        let value = Atomic<Int>(0)
    }

    static let routes = ["gateway", "upstream"]
    static let statuses = ["1xx", "2xx", "3xx", "4xx", "5xx"]
    /// `routes` × `statuses`, route-major.
    private let counts: [Count] = (0..<(routes.count * statuses.count)).map { _ in Count() }

    /// Counts one answered request. Any thread.
    @inline(__always)
    func count(status: Int, relayed: Bool) {
        let statusClass = min(max(status / 100, 1), 5) - 1
        counts[(relayed ? Self.statuses.count : 0) + statusClass].value.wrappingAdd(1, ordering: .relaxed)
    }

    /// What has been counted for a route and status class (tests).
    func total(route: String, status: String) -> Int {
        guard let r = Self.routes.firstIndex(of: route), let s = Self.statuses.firstIndex(of: status) else { return 0 }
        return counts[r * Self.statuses.count + s].value.load(ordering: .relaxed)
    }

    /// Registers the counts in `metrics`, read at each scrape.
    func register(in metrics: Metrics) {
        for (r, route) in Self.routes.enumerated() {
            for (s, status) in Self.statuses.enumerated() {
                let count = counts[r * Self.statuses.count + s]
                metrics.counter(
                    "marquee_gateway_requests_total",
                    help: "Requests the gateway answered, by route class (upstream: relayed from a service; gateway: its own answer) and status class.",
                    labels: ["route": route, "status": status]
                ) { Double(count.value.load(ordering: .relaxed)) }
            }
        }
    }
}
