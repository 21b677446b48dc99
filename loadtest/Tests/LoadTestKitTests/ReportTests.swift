import Foundation
@testable import LoadTestKit
import Testing

enum ReportFixture {
    /// A report from a small synthetic run: two endpoints, three seconds, one error.
    static func make() -> LoadReport {
        var stats = RunStats(openModel: true)
        for index in 0..<3_000 {
            let result = index == 7 ? LoadResult.failed(.reset) : LoadResult(status: 200, cache: index % 50 == 0 ? .miss : .hit, bytes: 80)
            let endpoint: Endpoint = index % 4 == 0 ? .movieBatch : .movieByID
            stats.record(endpoint, result, latency: UInt64(300_000 + index * 1_000), serviceTime: 250_000, second: index / 1_000)
        }
        let settings = LoadReport.Settings(
            url: "http://127.0.0.1:8080", scenario: "mixed", mix: "reads=80,batch=20", model: "open", rate: 1000,
            connections: 8, loops: 2, durationSeconds: 3, requests: nil, warmupSeconds: 1, zipf: 1, movies: 100,
            users: 10, batchSize: 50, seed: 1)
        let outcome = LoadRunner.Outcome(stats: stats, measuredSeconds: 3, measureStart: 0, measureEnd: 3_000_000_000)
        return LoadReport(
            settings: settings, startedAt: "2026-11-25T16:00:00Z", outcome: outcome,
            metrics: nil, redis: LoadReport.HitRateSource(source: "Redis INFO keyspace", hits: 95, misses: 5, hitRate: 0.95))
    }
}

@Suite struct ReportTests {
    @Test func jsonHasTheDocumentedStructure() throws {
        var report = ReportFixture.make()
        report.slo = try SLO(parsing: "p99<10ms").evaluate(report)
        let object = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        for key in ["settings", "startedAt", "measuredSeconds", "total", "endpoints", "timeline", "hitRates", "slo", "warmupRequests", "unsentRequests"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        let total = try #require(object["total"] as? [String: Any])
        #expect(total["requests"] as? Int == 3_000)
        #expect(total["errors"] as? Int == 1)
        #expect((total["errorKinds"] as? [String: Int]) == ["reset": 1])
        #expect((total["statusCodes"] as? [String: Int]) == ["200": 2_999])
        let latency = try #require(total["latency"] as? [String: Any])
        for key in ["p50", "p90", "p99", "p999", "max", "mean", "count", "curve"] { #expect(latency[key] != nil, "latency.\(key)") }
        #expect(total["serviceTime"] != nil)
        let endpoints = try #require(object["endpoints"] as? [[String: Any]])
        #expect(endpoints.compactMap { $0["name"] as? String } == ["GET /api/movies/{id}", "POST /api/movies/batch"])
        #expect(endpoints.allSatisfy { $0["hitLatency"] != nil && $0["missLatency"] != nil })
        let timeline = try #require(object["timeline"] as? [[String: Any]])
        #expect(timeline.count == 3)
        #expect(timeline.map { $0["requests"] as? Int } == [1_000, 1_000, 1_000])
        let hitRates = try #require(object["hitRates"] as? [String: Any])
        #expect(hitRates["xCache"] != nil && hitRates["redis"] != nil && hitRates["metrics"] == nil)
        let disagreement = try #require(hitRates["maxDisagreementPoints"] as? Double)
        #expect(abs(disagreement - 3.0) < 0.5)  // X-Cache ≈ 98% vs Redis 95%
        // It decodes back.
        let decoded = try JSONDecoder().decode(LoadReport.self, from: report.jsonData())
        #expect(decoded.total.requests == 3_000)
    }

    @Test func htmlIsSelfContainedWithSVGCharts() {
        var report = ReportFixture.make()
        report.settings.url = "http://127.0.0.1:8080/<script>"
        let html = report.htmlText()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<svg"))
        #expect(html.contains("<polyline"))
        #expect(html.components(separatedBy: "<svg").count - 1 >= 4)
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<link"))
        #expect(html.contains("&lt;script&gt;"))
        #expect(html.contains("GET /api/movies/{id}"))
        #expect(html.contains("Cache hit rate, three ways"))
    }

    @Test func terminalTableNamesEveryEndpointAndSource() {
        let text = ReportFixture.make().terminalText()
        #expect(text.contains("GET /api/movies/{id}"))
        #expect(text.contains("POST /api/movies/batch"))
        #expect(text.contains("X-Cache HIT"))
        #expect(text.contains("Redis INFO keyspace"))
        #expect(text.contains("errors by kind: reset×1"))
    }
}
