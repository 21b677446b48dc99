/// A service-level gate: `p99<10ms,errors<0.1%,hit_rate>99%`.
///
/// Clauses are separated by commas (or `and`); each is `metric op value`, with
/// - metric: `p50`, `p90`, `p99`, `p99.9` (or `p999`), `max`, `mean` (latency, all
///   endpoints); `errors` (error rate: no response or 5xx); `hit_rate` (X-Cache),
///   `hit_rate_metrics`, `hit_rate_redis`; `rps` (throughput, requests/s);
///   optionally prefixed by an endpoint scenario name and a colon: `reads:p99<5ms`
///   (`reads`, `batch`, `watchlist`, `export`, `add`, `remove`, `create`);
/// - op: `<`, `<=`, `>`, `>=`;
/// - value: latency with a unit (`us`, `ms`, `s`; plain numbers are ms), a rate as a
///   percentage (`0.1%`) or a fraction (`0.001`), throughput as a number.
public struct SLO: Sendable, Equatable {
    public enum Metric: Sendable, Equatable {
        case latency(percentile: Double?)  // nil = mean; 100 = max
        case errorRate
        case hitRate(source: HitSource)
        case throughput
    }

    public enum HitSource: String, Sendable, Equatable {
        case xCache, metrics, redis
    }

    public enum Comparison: String, Sendable, Equatable {
        case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="

        func holds(_ actual: Double, _ limit: Double) -> Bool {
            switch self {
            case .less: actual < limit
            case .lessOrEqual: actual <= limit
            case .greater: actual > limit
            case .greaterOrEqual: actual >= limit
            }
        }
    }

    public struct Clause: Sendable, Equatable, CustomStringConvertible {
        public var text: String
        public var endpoint: Endpoint?
        public var metric: Metric
        public var comparison: Comparison
        /// In the metric's base unit: milliseconds, a fraction, or requests/s.
        public var limit: Double
        public var description: String { text }
    }

    public var clauses: [Clause]

    static let endpointNames: [String: Endpoint] = [
        "reads": .movieByID, "batch": .movieBatch, "watchlist": .watchlist, "export": .watchlistExport,
        "add": .watchlistAdd, "remove": .watchlistRemove, "create": .movieCreate,
    ]

    /// Parses an expression; the error names the clause and what was expected.
    public init(parsing expression: String) throws(LoadTestError) {
        var clauses: [Clause] = []
        let normalized = expression.replacingAll(" and ", with: ",")
        let parts = normalized.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        guard parts.contains(where: { !$0.isEmpty }) else {
            throw LoadTestError(.invalidSLO, "--slo: empty expression (example: 'p99<10ms,errors<0.1%,hit_rate>99%')")
        }
        for (index, part) in parts.enumerated() {
            guard !part.isEmpty else {
                throw LoadTestError(.invalidSLO, "--slo: clause \(index + 1) is empty (a stray comma?)")
            }
            clauses.append(try SLO.parseClause(part, number: index + 1))
        }
        self.clauses = clauses
    }

    private static func parseClause(_ text: String, number: Int) throws(LoadTestError) -> Clause {
        func fail(_ why: String) -> LoadTestError {
            LoadTestError(.invalidSLO, "--slo: clause \(number) '\(text)': \(why)")
        }
        let compact = text.filter { $0 != " " }
        guard let opStart = compact.firstIndex(where: { $0 == "<" || $0 == ">" }) else {
            throw fail("expected a comparison (<, <=, >, >=), as in p99<10ms")
        }
        let left = String(compact[..<opStart]).lowercased()
        var rest = compact[opStart...]
        let op: Comparison
        if rest.hasPrefix("<=") { op = .lessOrEqual } else if rest.hasPrefix(">=") { op = .greaterOrEqual }
        else if rest.hasPrefix("<") { op = .less } else { op = .greater }
        rest = rest.dropFirst(op.rawValue.count)
        guard !rest.isEmpty else { throw fail("expected a value after '\(op.rawValue)'") }
        if rest.first == "<" || rest.first == ">" || rest.first == "=" { throw fail("'\(op.rawValue)\(rest.prefix(1))' is not a comparison") }

        var endpoint: Endpoint? = nil
        var metricName = left
        if let colon = left.firstIndex(of: ":") {
            let name = String(left[..<colon])
            guard let found = endpointNames[name] else {
                throw fail("unknown endpoint '\(name)' (one of \(endpointNames.keys.sorted().joined(separator: ", ")))")
            }
            endpoint = found
            metricName = String(left[left.index(after: colon)...])
        }
        guard !metricName.isEmpty else { throw fail("expected a metric before '\(op.rawValue)'") }
        let metric: Metric
        switch metricName {
        case "mean", "avg": metric = .latency(percentile: nil)
        case "max": metric = .latency(percentile: 100)
        case "p999": metric = .latency(percentile: 99.9)
        case "errors", "error_rate", "errors_rate": metric = .errorRate
        case "hit_rate", "hitrate", "hit_rate_xcache": metric = .hitRate(source: .xCache)
        case "hit_rate_metrics": metric = .hitRate(source: .metrics)
        case "hit_rate_redis": metric = .hitRate(source: .redis)
        case "rps", "throughput": metric = .throughput
        default:
            guard metricName.hasPrefix("p"), let percentile = Double(metricName.dropFirst()),
                percentile > 0, percentile <= 100
            else {
                throw fail(
                    "unknown metric '\(metricName)' (expected p50, p90, p99, p99.9, max, mean, errors, hit_rate, "
                        + "hit_rate_metrics, hit_rate_redis or rps)")
            }
            metric = .latency(percentile: percentile)
        }
        if endpoint != nil, case .hitRate(let source) = metric, source != .xCache {
            throw fail("only the X-Cache hit rate exists per endpoint")
        }
        let limit: Double
        switch metric {
        case .latency:
            limit = try parseDuration(String(rest), fail: fail)
        case .errorRate, .hitRate:
            if rest.hasSuffix("%") {
                guard let value = Double(rest.dropLast()), value >= 0, value <= 100 else {
                    throw fail("expected a percentage 0–100 like 0.1%, got '\(rest)'")
                }
                limit = value / 100
            } else {
                guard let value = Double(rest), value >= 0, value <= 1 else {
                    throw fail("expected a percentage like 0.1% or a fraction 0–1, got '\(rest)'")
                }
                limit = value
            }
        case .throughput:
            let number = rest.hasSuffix("/s") ? rest.dropLast(2) : rest
            guard let value = Double(number), value >= 0 else { throw fail("expected requests/s, got '\(rest)'") }
            limit = value
        }
        return Clause(text: text, endpoint: endpoint, metric: metric, comparison: op, limit: limit)
    }

    private static func parseDuration(_ text: String, fail: (String) -> LoadTestError) throws(LoadTestError) -> Double {
        let units: [(String, Double)] = [("us", 0.001), ("µs", 0.001), ("ms", 1), ("s", 1000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0 else {
                throw fail("expected a latency like 10ms, got '\(text)'")
            }
            return value * scale
        }
        guard let value = Double(text), value >= 0 else {
            throw fail("expected a latency with a unit (us, ms, s) like 10ms, got '\(text)'")
        }
        return value
    }

    /// Checks every clause against `report`; a clause whose figure is missing fails.
    public func evaluate(_ report: LoadReport) -> [LoadReport.SLOCheck] {
        clauses.map { clause in
            let scope: LoadReport.EndpointReport?
            if let endpoint = clause.endpoint {
                scope = report.endpoints.first { $0.name == endpoint.label }
            } else {
                scope = report.total
            }
            let actual: Double?
            let unit: (Double) -> String
            switch clause.metric {
            case .latency(let percentile):
                unit = { String(format3: $0) + "ms" }
                guard let latency = scope?.latency, latency.count > 0 else {
                    actual = nil
                    break
                }
                switch percentile {
                case nil: actual = latency.mean
                case 100?: actual = latency.max
                case 50?: actual = latency.p50
                case 90?: actual = latency.p90
                case 99?: actual = latency.p99
                case 99.9?: actual = latency.p999
                case let other?:
                    // Interpolate on the stored curve for other percentiles.
                    actual = LoadReport.interpolate(latency.curve, at: other)
                }
            case .errorRate:
                unit = { String(format3: $0 * 100) + "%" }
                actual = (scope?.requests ?? 0) > 0 ? scope?.errorRate : nil
            case .hitRate(let source):
                unit = { String(format3: $0 * 100) + "%" }
                switch source {
                case .xCache: actual = scope?.hitRate
                case .metrics: actual = report.hitRates.metrics?.hitRate
                case .redis: actual = report.hitRates.redis?.hitRate
                }
            case .throughput:
                unit = { String(format3: $0) + "/s" }
                actual = scope?.throughput
            }
            guard let actual else {
                return LoadReport.SLOCheck(clause: clause.text, actual: nil, passed: false, detail: "no data for this figure")
            }
            let passed = clause.comparison.holds(actual, clause.limit)
            return LoadReport.SLOCheck(
                clause: clause.text, actual: actual, passed: passed,
                detail: "\(unit(actual)) \(passed ? "meets" : "misses") \(clause.comparison.rawValue) \(unit(clause.limit))")
        }
    }
}

extension LoadReport {
    /// Linear interpolation on (percentile, ms) points sorted by percentile.
    static func interpolate(_ curve: [[Double]], at percentile: Double) -> Double? {
        guard var previous = curve.first, previous.count == 2 else { return nil }
        for point in curve.dropFirst() where point.count == 2 {
            if percentile <= point[0] {
                let span = point[0] - previous[0]
                return span <= 0 ? point[1] : previous[1] + (point[1] - previous[1]) * (percentile - previous[0]) / span
            }
            previous = point
        }
        return previous[1]
    }
}

extension String {
    /// A number with up to 3 decimals, trailing zeros dropped (no Foundation formatter).
    init(format3 value: Double) {
        guard value.isFinite else {
            self = String(value)
            return
        }
        let scaled = (value * 1000).rounded()
        let negative = scaled < 0
        let magnitude = Swift.abs(scaled)
        guard magnitude < 9e15 else {
            self = String(value)
            return
        }
        let whole = Int(magnitude) / 1000
        var fraction = String(Int(magnitude) % 1000)
        while fraction.count < 3 { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        self = (negative ? "-" : "") + String(whole) + (fraction.isEmpty ? "" : "." + fraction)
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
