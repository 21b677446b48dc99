extension LoadReport {
    /// A self-contained page: inline CSS and SVG, no script at all.
    public func htmlText() -> String {
        let colors = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#4b5563"]
        var body = ""
        let s = settings
        let model = s.model == "open" ? "open model, \(String(format3: s.rate ?? 0)) req/s target" : "closed model"
        body += "<h1>Load test: \(escapeHTML(s.scenario))\(s.mix.map { " <small>(\(escapeHTML($0)))</small>" } ?? "")</h1>"
        body += "<p class=\"muted\">\(escapeHTML(s.url)) · \(escapeHTML(model)) · \(s.connections) connections on \(s.loops) loops · "
        body += "\(String(format3: measuredSeconds)) s measured"
        if s.warmupSeconds > 0 { body += " after \(String(format3: s.warmupSeconds)) s warm-up" }
        body += " · started \(escapeHTML(startedAt))</p>"
        if unsentRequests > 0 {
            body += "<p class=\"warn\">The target fell behind the requested rate: \(unsentRequests) requests were still owed at the end.</p>"
        }

        // Headline cards.
        body += "<div class=\"cards\">"
        body += card("throughput", String(format3: (total.throughput * 10).rounded() / 10) + " req/s")
        body += card("p50", Self.formatMilliseconds(total.latency.p50))
        body += card("p99", Self.formatMilliseconds(total.latency.p99))
        body += card("p99.9", Self.formatMilliseconds(total.latency.p999))
        body += card("max", Self.formatMilliseconds(total.latency.max))
        body += card("errors", "\(total.errors) (\(String(format3: total.errorRate * 100))%)", bad: total.errors > 0)
        body += card("hit rate (X-Cache)", total.hitRate.map { String(format3: $0 * 100) + "%" } ?? "n/a")
        body += "</div>"

        if let slo, !slo.isEmpty {
            body += "<h2>SLO</h2><table><tr><th>clause</th><th>result</th><th>detail</th></tr>"
            for check in slo {
                body += "<tr><td><code>\(escapeHTML(check.clause))</code></td>"
                body += "<td class=\"\(check.passed ? "pass" : "fail")\">\(check.passed ? "PASS" : "FAIL")</td>"
                body += "<td>\(escapeHTML(check.detail))</td></tr>"
            }
            body += "</table>"
        }

        // Time series.
        let xs = timeline.map { Double($0.second) + 0.5 }
        body += "<h2>Over time</h2>"
        body += SVGChart(
            title: "Latency per second", xLabel: "seconds into the measurement", yLabel: "latency (ms, log)",
            series: [
                .init(name: "p50", color: colors[0], points: zip(xs, timeline.map(\.p50)).map { ($0, $1) }),
                .init(name: "p90", color: colors[1], points: zip(xs, timeline.map(\.p90)).map { ($0, $1) }),
                .init(name: "p99", color: colors[2], points: zip(xs, timeline.map(\.p99)).map { ($0, $1) }),
                .init(name: "max", color: colors[3], points: zip(xs, timeline.map(\.max)).map { ($0, $1) }, dashed: true),
            ], logY: true, formatY: Self.formatMilliseconds
        ).render()
        body += SVGChart(
            title: "Throughput per second", xLabel: "seconds into the measurement", yLabel: "requests/s",
            series: [
                .init(name: "responses", color: colors[0], points: zip(xs, timeline.map { Double($0.requests) }).map { ($0, $1) }),
                .init(name: "errors", color: colors[3], points: zip(xs, timeline.map { Double($0.errors) }).map { ($0, $1) }),
            ]
        ).render()
        let hitPoints = timeline.compactMap { second in second.hitRate.map { (Double(second.second) + 0.5, $0 * 100) } }
        body += SVGChart(
            title: "Cache hit rate per second (X-Cache)", xLabel: "seconds into the measurement", yLabel: "hit rate (%)",
            series: [.init(name: "hit rate", color: colors[1], points: hitPoints)], yRange: 0...100,
            formatY: { String(format3: $0) + "%" }
        ).render()

        // Percentile curves per endpoint, x = "nines" (−log10(1 − p)).
        body += "<h2>Latency by percentile</h2>"
        let percentileTicks: [(Double, String)] = [(0, "0"), (0.301, "50"), (1, "90"), (2, "99"), (3, "99.9"), (4, "99.99")]
        func nines(_ percentile: Double) -> Double { percentile >= 100 ? 4.3 : -log10Safe(1 - percentile / 100) }
        var curves: [SVGChart.Series] = []
        for (index, endpoint) in endpoints.enumerated() {
            curves.append(.init(
                name: endpoint.name, color: colors[index % colors.count],
                points: endpoint.latency.curve.compactMap { $0.count == 2 ? (nines($0[0]), $0[1]) : nil }))
        }
        body += SVGChart(
            title: "Latency at each percentile", xLabel: "percentile", yLabel: "latency (ms, log)", series: curves,
            logY: true, xTicks: percentileTicks, formatY: Self.formatMilliseconds
        ).render()

        // Endpoint table.
        body += "<h2>Endpoints</h2><table><tr><th>endpoint</th><th>requests</th><th>req/s</th><th>errors</th>"
        body += "<th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>hit rate</th><th>status codes</th></tr>"
        for endpoint in endpoints + (endpoints.count > 1 ? [total] : []) {
            body += endpointRow(endpoint.name, endpoint, endpoint.latency, strong: endpoint.name == "all")
            if let hit = endpoint.hitLatency { body += endpointRow("X-Cache HIT", nil, hit, indent: true) }
            if let miss = endpoint.missLatency { body += endpointRow("X-Cache MISS", nil, miss, indent: true) }
            if let service = endpoint.serviceTime, s.model == "open" {
                body += endpointRow("service time", nil, service, indent: true)
            }
        }
        body += "</table>"
        if !total.errorKinds.isEmpty {
            body += "<p>Errors by kind: " + total.errorKinds.sorted { $0.key < $1.key }
                .map { "<b>\(escapeHTML($0.key))</b> \($0.value)" }.joined(separator: ", ") + "</p>"
        }

        // Hit rates three ways.
        body += "<h2>Cache hit rate, three ways</h2><table><tr><th>source</th><th>hits</th><th>misses</th><th>hit rate</th><th>note</th></tr>"
        for source in [hitRates.xCache] + [hitRates.metrics, hitRates.redis].compactMap({ $0 }) {
            body += "<tr><td>\(escapeHTML(source.source))</td><td>\(Int(source.hits))</td><td>\(Int(source.misses))</td>"
            body += "<td>\(source.hitRate.map { String(format3: $0 * 100) + "%" } ?? "n/a")</td>"
            body += "<td>\(escapeHTML(source.note ?? ""))</td></tr>"
        }
        body += "</table>"
        if let points = hitRates.maxDisagreementPoints {
            body += "<p>The sources differ by up to <b>\(String(format3: points))</b> percentage points "
            body += "(see the README: each counts a different thing).</p>"
        }

        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Load test: \(escapeHTML(s.scenario)) — \(escapeHTML(s.url))</title>
            <style>
            body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:980px;color:#111827;padding:0 16px}
            h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
            .muted{color:#6b7280}.warn{color:#b45309;font-weight:600}small{font-weight:normal;color:#6b7280}
            .cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
            .card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:110px;background:#f9fafb}
            .card .k{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.04em}.card .v{font-size:20px;font-weight:600}
            .card.bad .v{color:#dc2626}
            table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;margin:8px 0}
            th,td{padding:4px 8px;border-bottom:1px solid #f3f4f6;text-align:right}th:first-child,td:first-child{text-align:left}
            tr.sub td{color:#6b7280;font-size:13px}tr.sub td:first-child{padding-left:24px}tr.total td{font-weight:600}
            td.pass{color:#16a34a;font-weight:600}td.fail{color:#dc2626;font-weight:600}
            svg.chart{width:100%;height:auto;margin:12px 0;display:block}
            svg .grid{stroke:#e5e7eb;stroke-width:1}svg .frame{fill:none;stroke:#9ca3af}svg .axis{stroke:#9ca3af}
            svg .tick{font-size:11px;fill:#4b5563}svg .label{font-size:12px;fill:#374151}svg .legend{font-size:12px;fill:#111827}
            svg .title{font-size:14px;font-weight:600;fill:#111827}svg .muted{fill:#9ca3af}
            </style></head><body>
            \(body)
            <p class="muted">Generated by marquee loadtest. Latencies from HdrHistogram (3 significant digits); \
            open-model latencies are measured from each request's intended send time.</p>
            </body></html>

            """
    }

    private func card(_ key: String, _ value: String, bad: Bool = false) -> String {
        "<div class=\"card\(bad ? " bad" : "")\"><div class=\"k\">\(escapeHTML(key))</div><div class=\"v\">\(escapeHTML(value))</div></div>"
    }

    private func endpointRow(_ name: String, _ endpoint: EndpointReport?, _ latency: Latency, indent: Bool = false, strong: Bool = false) -> String {
        var row = "<tr class=\"\(indent ? "sub" : strong ? "total" : "")\"><td>\(escapeHTML(name))</td>"
        row += "<td>\(endpoint.map { String($0.requests) } ?? String(latency.count))</td>"
        row += "<td>\(endpoint.map { String(format3: ($0.throughput * 10).rounded() / 10) } ?? "")</td>"
        row += "<td>\(endpoint.map { String($0.errors) } ?? "")</td>"
        for value in [latency.p50, latency.p90, latency.p99, latency.p999, latency.max] {
            row += "<td>\(Self.formatMilliseconds(value))</td>"
        }
        row += "<td>\(endpoint?.hitRate.map { String(format3: $0 * 100) + "%" } ?? "")</td>"
        let codes = endpoint?.statusCodes.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ") ?? ""
        row += "<td>\(escapeHTML(codes))</td></tr>"
        return row
    }
}

#if canImport(Glibc)
import Glibc
#endif

private func log10Safe(_ value: Double) -> Double { value <= 0 ? -4.3 : log10(value) }
