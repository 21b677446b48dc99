/// The final table printed to the terminal.
extension LoadReport {
    public func terminalText() -> String {
        var lines: [String] = []
        let s = settings
        let model = s.model == "open" ? "open model at \(String(format3: s.rate ?? 0)) req/s" : "closed model"
        lines.append(
            "\(s.scenario)\(s.mix.map { " (\($0))" } ?? "") against \(s.url): \(model), "
                + (s.http2Connections.map { "\(s.connections) streams on \($0) HTTP/2 connections, " }
                    ?? "\(s.connections) connections on ")
                + "\(s.loops) loops, \(String(format3: measuredSeconds))s measured"
                + (s.warmupSeconds > 0 ? " after \(String(format3: s.warmupSeconds))s warm-up (\(warmupRequests) requests left out)" : ""))
        if unsentRequests > 0 {
            lines.append(
                "the target fell behind the requested rate: \(unsentRequests) requests were still owed at the end "
                    + "(achieved \(String(format3: (total.throughput * 10).rounded() / 10)) req/s)")
        }
        lines.append("")
        var table: [[String]] = [["endpoint", "requests", "req/s", "errors", "p50", "p90", "p99", "p99.9", "max", "hit%"]]
        for endpoint in endpoints + (endpoints.count > 1 ? [total] : []) {
            table.append(row(endpoint.name, endpoint, endpoint.latency))
            if let hit = endpoint.hitLatency { table.append(row("  X-Cache HIT", nil, hit)) }
            if let miss = endpoint.missLatency { table.append(row("  X-Cache MISS", nil, miss)) }
            if let service = endpoint.serviceTime, settings.model == "open" {
                table.append(row("  service time", nil, service))
            }
        }
        lines += Self.align(table)
        lines.append("")
        let statuses = total.statusCodes.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
        lines.append("status codes: \(statuses.isEmpty ? "none" : statuses)")
        if !total.errorKinds.isEmpty {
            lines.append("errors by kind: " + total.errorKinds.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))
        }
        lines.append("cache hit rate:")
        for source in [hitRates.xCache] + [hitRates.metrics, hitRates.redis].compactMap({ $0 }) {
            let rate = source.hitRate.map { String(format3: $0 * 100) + "%" } ?? "n/a"
            lines.append(
                "  \(source.source.padding(24)) \(rate.padding(9)) (\(Int(source.hits)) hits, \(Int(source.misses)) misses)"
                    + (source.note.map { "  \($0)" } ?? ""))
        }
        if let points = hitRates.maxDisagreementPoints {
            lines.append("  sources differ by up to \(String(format3: points)) percentage points")
        }
        if let slo, !slo.isEmpty {
            lines.append("SLO:")
            for check in slo { lines.append("  \(check.passed ? "PASS" : "FAIL")  \(check.clause.padding(24)) \(check.detail)") }
        }
        return lines.joined(separator: "\n")
    }

    private func row(_ name: String, _ endpoint: EndpointReport?, _ latency: Latency) -> [String] {
        func ms(_ value: Double) -> String { Self.formatMilliseconds(value) }
        return [
            name,
            endpoint.map { String($0.requests) } ?? String(latency.count),
            endpoint.map { String(format3: ($0.throughput * 10).rounded() / 10) } ?? "",
            endpoint.map { String($0.errors) } ?? "",
            ms(latency.p50), ms(latency.p90), ms(latency.p99), ms(latency.p999), ms(latency.max),
            endpoint?.hitRate.map { String(format3: ($0 * 1000).rounded() / 10) } ?? "",
        ]
    }

    /// 0.123 → "123µs", 12.3 → "12.3ms", 1234 → "1.23s".
    public static func formatMilliseconds(_ value: Double) -> String {
        if value < 1 { return String(format3: (value * 1000).rounded()) + "µs" }
        if value < 1000 { return String(format3: (value * 100).rounded() / 100) + "ms" }
        return String(format3: (value / 10).rounded() / 100) + "s"
    }

    static func align(_ rows: [[String]]) -> [String] {
        guard let columns = rows.first?.count else { return [] }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == 0 ? cell.padding(widths[index]) : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  ")
        }
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
