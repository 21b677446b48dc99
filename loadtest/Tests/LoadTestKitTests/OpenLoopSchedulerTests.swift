@testable import LoadTestKit
import Synchronization
import Testing

/// A clock the test moves by hand.
final class ManualClock: LoadClock {
    private let time = Atomic<UInt64>(0)
    init(_ start: UInt64) { time.store(start, ordering: .relaxed) }
    func now() -> UInt64 { time.load(ordering: .relaxed) }
    func set(_ value: UInt64) { time.store(value, ordering: .relaxed) }
    func advance(_ by: UInt64) { time.wrappingAdd(by, ordering: .relaxed) }
}

@Suite struct OpenLoopSchedulerTests {
    let ms: UInt64 = 1_000_000

    /// Drives the scheduler like a worker: every request takes `service(k)` ns.
    private func simulate(requests: Int, service: (Int) -> UInt64) -> [OpenLoopScheduler<ManualClock>.Timing] {
        let clock = ManualClock(1_000 * ms)
        var scheduler = OpenLoopScheduler(clock: clock, start: 1_000 * ms, rate: 1000)  // 1 ms apart
        var timings: [OpenLoopScheduler<ManualClock>.Timing] = []
        while timings.count < requests {
            switch scheduler.nextAction() {
            case .wait(let until):
                clock.set(until)
            case .send(let intended):
                scheduler.sent()
                let sentAt = clock.now()
                clock.advance(service(timings.count))
                timings.append(scheduler.completed(intended: intended, sentAt: sentAt))
            case .finished:
                Issue.record("unexpected end")
                return timings
            }
        }
        return timings
    }

    @Test func onScheduleLatencyIsServiceTime() {
        let timings = simulate(requests: 20) { _ in 200_000 }
        #expect(timings.allSatisfy { $0.latency == 200_000 && $0.lateness == 0 })
    }

    @Test func aStallMakesLaterRequestsLatencyIncludeTheWait() {
        // Request 10 stalls for 100 ms; the others take 0.2 ms.
        let timings = simulate(requests: 200) { $0 == 10 ? 100 * ms : 200_000 }
        #expect(timings[10].latency == 100 * ms)
        // Request 11 was intended 1 ms after request 10 but could only go out when it
        // returned, 99 ms late: its latency is the wait plus its own service time.
        #expect(timings[11].lateness == 99 * ms)
        #expect(timings[11].latency == 99 * ms + 200_000)
        #expect(timings[11].serviceTime == 200_000)
        // The backlog drains one request per 0.2 ms of work against 1 ms of schedule: the
        // lateness falls by 0.8 ms per request until the schedule is met again.
        #expect(timings[12].latency == timings[11].latency - 800_000)
        #expect(timings[20].lateness > 0)
        #expect(timings[199].lateness == 0)
        // What a closed-model (send-time) measurement would have reported instead.
        let uncorrected = timings.map(\.serviceTime).sorted()
        let corrected = timings.map(\.latency).sorted()
        #expect(uncorrected[Int(Double(timings.count) * 0.9)] == 200_000)
        #expect(corrected[Int(Double(timings.count) * 0.9)] > 10 * ms)
    }

    @Test func intendedTimesKeepFractionalRatesOnAverage() {
        let clock = ManualClock(0)
        let scheduler = OpenLoopScheduler(clock: clock, start: 0, rate: 3)  // 333.33… ms apart
        #expect(scheduler.intendedTime(of: 3) == 1_000 * ms)
        #expect(scheduler.intendedTime(of: 300) == 100_000 * ms)
    }

    @Test func finishesAtTheEndAndCountsTheOwedBacklog() {
        let clock = ManualClock(0)
        var scheduler = OpenLoopScheduler(clock: clock, start: 0, rate: 1000, end: 10 * ms)
        #expect(scheduler.nextAction() == .send(intended: 0))
        scheduler.sent()
        #expect(scheduler.nextAction() == .wait(until: ms))
        clock.set(50 * ms)  // a long stall
        #expect(scheduler.owed() == 9)
        for _ in 0..<9 { scheduler.sent() }
        #expect(scheduler.nextAction() == .finished)
    }
}
