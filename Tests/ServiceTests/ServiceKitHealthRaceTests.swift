import Testing

@testable import ServiceKit

@Suite("Health checks under repetition", .timeLimit(.minutes(10)))
struct ServiceKitHealthRaceTests {
    /// Regression: the check cancelled its deadline timer before recording its own answer,
    /// and the cancelled sleep then answered "down" at once; about 1 health call in 4
    /// returned 503 with a healthy database.
    @Test func testAPassingCheckIsNeverReportedDownByItsCancelledTimer() async {
        let checks = [HealthCheck(name: "database") { true }, HealthCheck(name: "cache", required: false) { true }]
        for _ in 0..<300 {
            let report = await HealthReport.run(service: "test-service", checks: checks)
            #expect(report.isHealthy)
            let allOK = report.results.allSatisfy { $0.ok }
            #expect(allOK)
        }
    }

    @Test func aHangingCheckIsDownAfterItsTimeout() async {
        let check = HealthCheck(name: "database", timeout: .milliseconds(50)) {
            try? await Task.sleep(for: .seconds(10))
            return true
        }
        let start = ContinuousClock.now
        let report = await HealthReport.run(service: "test-service", checks: [check])
        #expect(!report.isHealthy)
        #expect(ContinuousClock.now - start < .seconds(5))
    }
}
