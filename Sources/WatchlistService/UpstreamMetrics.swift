import CoreMetrics
import Reactor
import ServiceKit

/// Upstream call figures in `/metrics`, by upstream and outcome:
/// `watchlist_upstream_requests_total{upstream="movie-service",outcome="ok"}` and the
/// latency histogram `watchlist_upstream_request_duration_seconds{upstream,outcome}`.
///
/// Every series is registered at start-up (two upstreams × five outcomes), so recording
/// is an array lookup, then swift-metrics' `Counter` and `Timer`.
struct UpstreamMetrics: Sendable {
    enum Upstream: Int, CaseIterable, Sendable {
        case userService, movieService

        var label: String {
            switch self {
            case .userService: "user-service"
            case .movieService: "movie-service"
            }
        }
    }

    enum Outcome: Int, CaseIterable, Sendable {
        /// 2xx.
        case ok
        /// 404: a definite answer, not a failure of the upstream.
        case notFound
        /// 503 (connect refused or timed out, pool exhausted, the upstream's own 503).
        case unavailable
        /// 504 (no complete answer in time).
        case timeout
        /// 502 (broken answer or unexpected status).
        case badResponse

        var label: String {
            switch self {
            case .ok: "ok"
            case .notFound: "not_found"
            case .unavailable: "unavailable"
            case .timeout: "timeout"
            case .badResponse: "bad_response"
            }
        }
    }

    private let counters: [Counter]
    private let timers: [Timer]

    init(metrics: Metrics) {
        var counters: [Counter] = []
        var timers: [Timer] = []
        for upstream in Upstream.allCases {
            for outcome in Outcome.allCases {
                counters.append(
                    metrics.counter(
                        "watchlist_upstream_requests_total", help: "Calls to the user and movie services.",
                        labels: ["upstream": upstream.label, "outcome": outcome.label]))
                timers.append(
                    metrics.timer(
                        "watchlist_upstream_request_duration_seconds",
                        help: "Time from sending a call to the user or movie service to its outcome.",
                        labels: ["upstream": upstream.label, "outcome": outcome.label]))
            }
        }
        self.counters = counters
        self.timers = timers
    }

    func record(_ upstream: Upstream, _ outcome: Outcome, startedAt start: UInt64) {
        let index = upstream.rawValue * Outcome.allCases.count + outcome.rawValue
        counters[index].increment()
        timers[index].recordNanoseconds(Int64(truncatingIfNeeded: monotonicNanoseconds() &- start))
    }
}
