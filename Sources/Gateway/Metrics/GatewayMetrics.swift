import HTTP
import ProcessMetrics
import Prometheus
import Reactor

/// The gateway's `/metrics`, served on a listener of its own (`METRICS_PORT`, on 127.0.0.1
/// unless `METRICS_HOST` says otherwise), never on the public ports. Every figure is read
/// when a scrape asks, none on the request path: the loops' lag (a timer probe per loop), the
/// client connections each loop serves, the upstream pools per instance and loop, whether
/// each instance is admitted, the retry and rejection totals, and the requests by route
/// and status class (``RequestTally``).
final class GatewayMetrics: Sendable {
    let metrics: Metrics
    /// One per loop, run by the process's service group.
    let lagProbes: [LoopLagProbe]

    /// - Parameter servers: the public listeners (plain and TLS), whose connections are counted together.
    init(gateway: Gateway, servers: [HTTPServer], group: EventLoopGroup, registry: PrometheusCollectorRegistry) {
        let metrics = Metrics(service: "gateway", loopCount: group.loops.count, registry: registry)
        metrics.observe(servers: servers, group: group)
        lagProbes = metrics.loopLagProbes(group: group)
        for service in UpstreamService.allCases {
            guard let upstream = gateway.upstreams[service] else { continue }
            let name = Self.upstreamLabel(service)
            for (index, origin) in upstream.origins.enumerated() {
                let instance = upstream.labels[index]
                metrics.observe(client: gateway.client, origin: origin, upstream: name, instance: instance)
                metrics.gauge(
                    "marquee_upstream_instance_admitted",
                    help: "Whether the gateway sends requests to an instance (1) or has ejected it (0).",
                    labels: ["upstream": name, "instance": instance]
                ) { upstream.isAdmitted(index) ? 1 : 0 }
            }
        }
        let retries = "Requests the gateway sent again, by reason."
        metrics.counter("marquee_gateway_retries_total", help: retries, labels: ["reason": "stale_connection"]) {
            Double(gateway.staleConnectionRetries.load(ordering: .relaxed))
        }
        metrics.counter("marquee_gateway_retries_total", help: retries, labels: ["reason": "connect"]) {
            Double(gateway.connectRetries.load(ordering: .relaxed))
        }
        metrics.counter("marquee_gateway_retries_total", help: retries, labels: ["reason": "instance_closed"]) {
            Double(gateway.instanceRetries.load(ordering: .relaxed))
        }
        metrics.counter("marquee_gateway_retries_total", help: retries, labels: ["reason": "unread"]) {
            Double(gateway.unreadRetries.load(ordering: .relaxed))
        }
        metrics.counter(
            "marquee_gateway_busy_rejections_total",
            help: "Requests answered 503 because the queue for an upstream connection was full or its deadline passed."
        ) { Double(gateway.busyRejections.load(ordering: .relaxed)) }
        metrics.counter(
            "marquee_gateway_abandoned_requests_total",
            help: "Requests whose client went away while they were upstream: the upstream exchange was closed."
        ) { Double(gateway.abandonedUpstreamRequests.load(ordering: .relaxed)) }
        gateway.requestTally.register(in: metrics)
        self.metrics = metrics
    }

    /// The `upstream` label, as the services name the same upstreams in their own `/metrics`.
    static func upstreamLabel(_ service: UpstreamService) -> String {
        switch service {
        case .users: "user-service"
        case .movies: "movie-service"
        case .watchlist: "watchlist-service"
        }
    }
}

/// The metrics listener's only answer: `GET`/`HEAD /metrics`; 404 and 405 otherwise.
struct MetricsResponder: HTTPResponder {
    let metrics: Metrics

    func respond(to request: consuming HTTPServerRequest) async throws -> HTTPServerResponse {
        guard request.path == "/metrics" else { return APIError(.notFound, detail: "Not Found").response }
        guard request.method == .GET || request.method == .HEAD else {
            return APIError(.methodNotAllowed, detail: "Method Not Allowed", headers: ["Allow": "GET, HEAD"]).response
        }
        return HTTPServerResponse(
            status: .ok, headers: ["Content-Type": Metrics.contentType], body: .bytes(await metrics.exposition()))
    }
}
