import MarqueeTesting
import Synchronization
import Testing

@testable import Reactor

/// What the blocking pool does with work whose caller has gone (a password hash queued for a
/// client that disconnected): dropped if it has not started, finished if it has.
@Suite("Blocking pool", .timeLimit(.minutes(2)))
struct BlockingPoolTests {
    /// How many times a job ran.
    final class Runs: Sendable {
        private let count = Atomic<Int>(0)
        func record() -> Int { count.add(1, ordering: .relaxed).newValue }
        var value: Int { count.load(ordering: .relaxed) }
    }

    @Test func aJobCancelledBeforeItStartsIsDroppedAndAnsweredAtOnce() async throws {
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        let gate = BlockingPoolGate(limit: .seconds(60))
        gate.close(pool)
        let ran = Runs()
        let caller = Task { try await pool.run { ran.record() } }
        #expect(await eventually { gate.isHeld && pool.queuedJobs == 1 }, "the job waits behind the held thread")

        caller.cancel()
        let result = await caller.result
        let answeredWhileThreadHeld = !gate.hasLetGo
        gate.release()

        #expect(throws: CancellationError.self) { try result.get() }
        #expect(answeredWhileThreadHeld, "the caller was answered without waiting for a thread")
        // Jobs run in order: once a later one has run, the dropped one has been passed.
        #expect(try await pool.run { 2 } == 2)
        #expect(ran.value == 0, "the cancelled job never ran")
    }

    @Test func aJobThatStartedRunsToItsEndAndAnswers() async throws {
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        let gate = BlockingPoolGate(limit: .seconds(60))
        let caller = Task { try await pool.run { () -> Int in gate.hold(); return 7 } }
        #expect(await eventually { gate.isHeld }, "the job started")

        caller.cancel()
        gate.release()
        #expect(try await caller.value == 7)
    }

    @Test func aCallerCancelledBeforeCallingQueuesNothing() async throws {
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        let gate = BlockingPoolGate(limit: .seconds(60))
        gate.close(pool)
        #expect(await eventually { gate.isHeld })
        let ran = Runs()
        let result = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await pool.run { ran.record() }
        }.result
        #expect(pool.queuedJobs == 0)
        gate.release()

        #expect(throws: CancellationError.self) { try result.get() }
        #expect(try await pool.run { 2 } == 2)
        #expect(ran.value == 0)
    }
}
