@testable import LoadTestKit
import Testing

@Suite struct SLOTests {
    @Test func parsesTheIssueExample() throws {
        let slo = try SLO(parsing: "p99<10ms,errors<0.1%,hit_rate>99%")
        #expect(slo.clauses.count == 3)
        #expect(slo.clauses[0].metric == .latency(percentile: 99))
        #expect(slo.clauses[0].comparison == .less)
        #expect(slo.clauses[0].limit == 10)
        #expect(slo.clauses[1].metric == .errorRate)
        #expect(abs(slo.clauses[1].limit - 0.001) < 1e-12)
        #expect(slo.clauses[2].metric == .hitRate(source: .xCache))
        #expect(slo.clauses[2].comparison == .greater)
        #expect(abs(slo.clauses[2].limit - 0.99) < 1e-12)
    }

    @Test func unitsOperatorsAndEndpoints() throws {
        let slo = try SLO(parsing: " p99.9 <= 250us , max<1.5s and rps>=1000, reads:p50<2, hit_rate_redis>0.9 ")
        #expect(slo.clauses.map(\.limit) == [0.25, 1500, 1000, 2, 0.9])
        #expect(slo.clauses[0].metric == .latency(percentile: 99.9))
        #expect(slo.clauses[0].comparison == .lessOrEqual)
        #expect(slo.clauses[2].comparison == .greaterOrEqual)
        #expect(slo.clauses[3].endpoint == .movieByID)
        #expect(slo.clauses[4].metric == .hitRate(source: .redis))
    }

    @Test(arguments: [
        ("", "empty expression"),
        ("p99", "expected a comparison"),
        ("p99<", "expected a value after '<'"),
        ("p99<<10ms", "'<<' is not a comparison"),
        ("p99<10parsecs", "expected a latency"),
        ("latency<10ms", "unknown metric 'latency'"),
        ("p99<10ms,,errors<1%", "clause 2 is empty"),
        ("errors<150%", "percentage 0–100"),
        ("hit_rate>2", "fraction 0–1"),
        ("shop:p99<1ms", "unknown endpoint 'shop'"),
        ("<10ms", "expected a metric"),
    ])
    func invalidExpressionsSayWhy(expression: String, expected: String) {
        do {
            _ = try SLO(parsing: expression)
            Issue.record("'\(expression)' parsed")
        } catch {
            #expect(error.code == .invalidSLO)
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test func evaluatesAgainstAReport() throws {
        let report = ReportFixture.make()
        let checks = try SLO(parsing: "p99<10ms,errors<0.01%,hit_rate>99%,hit_rate_metrics>90%").evaluate(report)
        #expect(checks.map(\.passed) == [true, false, false, false])
        #expect(checks[3].detail == "no data for this figure")
    }
}
