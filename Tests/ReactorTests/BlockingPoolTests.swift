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

    /// Order of the jobs as they ran.
    final class Order: Sendable {
        private let jobs = Mutex<[String]>([])
        func record(_ job: String) { jobs.withLock { $0.append(job) } }
        var value: [String] { jobs.withLock { $0 } }
    }

    @Test func anotherClientsJobRunsBeforeTheFloodersSecond() async throws {
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        let gate = BlockingPoolGate(limit: .seconds(60))
        gate.close(pool)
        #expect(await eventually { gate.isHeld })
        let order = Order()
        let flooder = BlockingPool.Lane("verify 203.0.113.1")
        // Queued one at a time: unstructured tasks may reach the pool in any order.
        var flood: [Task<Void, any Error>] = []
        for n in 1...3 {
            flood.append(Task { try await pool.run(in: flooder) { order.record("F\(n)") } })
            #expect(await eventually { pool.queuedJobs == n }, "the flood waits behind the held thread")
        }
        let login = Task { try await pool.run(in: BlockingPool.Lane("verify 198.51.100.9")) { order.record("L") } }
        #expect(await eventually { pool.queuedJobs == 4 })
        gate.release()

        try await login.value
        for job in flood { try await job.value }
        #expect(order.value == ["F1", "L", "F2", "F3"])
    }

    @Test func aCappedLaneNeverTakesTheLastThread() async throws {
        let pool = BlockingPool(threadCount: 2)
        defer { pool.shutdown() }
        let newHashes = BlockingPool.Lane("new password hashes", maxRunning: 1)
        let gate = BlockingPoolGate(limit: .seconds(60))
        let order = Order()
        let running = Task { try await pool.run(in: newHashes) { gate.hold(); order.record("N1") } }
        #expect(await eventually { gate.isHeld })
        let queued = Task { try await pool.run(in: newHashes) { order.record("N2") } }
        #expect(await eventually { pool.queuedJobs == 1 })

        // The second thread is free, but N2's lane is at its cap: a login takes the thread.
        try await pool.run(in: BlockingPool.Lane("verify 198.51.100.9")) { order.record("L") }
        let whileHeld = order.value
        let stillHeld = !gate.hasLetGo
        gate.release()
        try await running.value
        try await queued.value

        #expect(stillHeld, "the login ran while the lane's one job held its thread")
        #expect(whileHeld == ["L"], "N2 did not start on the free thread")
        #expect(order.value == ["L", "N1", "N2"])
    }
}
