import Testing

@testable import Reactor

/// The order a blocking pool's threads take jobs in (``FairJobQueue``), without threads.
@Suite("Fair job queue", .timeLimit(.minutes(1)))
struct FairJobQueueTests {
    @Test func anotherLanesJobIsServedBeforeTheFloodersSecond() {
        var queue = FairJobQueue<String>()
        for job in ["F1", "F2", "F3"] { queue.append(job, lane: "flooder") }
        queue.append("L1", lane: "login")
        var order: [String] = []
        while let (job, lane) = queue.take() {
            order.append(job)
            queue.finished(lane: lane)
        }
        #expect(order == ["F1", "L1", "F2", "F3"])
        #expect(queue.isEmpty)
    }

    @Test func lanesTakeTurnsAndEachKeepsItsOrder() {
        var queue = FairJobQueue<String>()
        for job in ["A1", "A2", "A3"] { queue.append(job, lane: "a") }
        for job in ["B1", "B2"] { queue.append(job, lane: "b") }
        queue.append("C1", lane: "c")
        var order: [String] = []
        while let (job, lane) = queue.take() {
            order.append(job)
            queue.finished(lane: lane)
        }
        #expect(order == ["A1", "B1", "C1", "A2", "B2", "A3"])
    }

    @Test func aCappedLaneWaitsAndLetsOthersPass() {
        var queue = FairJobQueue<String>()
        queue.append("N1", lane: "new", maxRunning: 1)
        queue.append("N2", lane: "new", maxRunning: 1)
        let first = queue.take()?.job
        #expect(first == "N1")
        let whileCapped = queue.take()?.job
        #expect(whileCapped == nil, "the lane is at its cap: N2 waits although a thread asks")
        queue.append("V1", lane: "verify")
        let other = queue.take()?.job
        #expect(other == "V1", "another lane's job passes the capped one")
        let verifyWasCapped = queue.finished(lane: "verify")
        #expect(!verifyWasCapped)
        let newWasCapped = queue.finished(lane: "new")
        #expect(newWasCapped, "N1's end frees the lane for N2")
        let second = queue.take()?.job
        #expect(second == "N2")
        #expect(queue.running(in: "new") == 1)
        let lastWasCapped = queue.finished(lane: "new")
        #expect(!lastWasCapped)
        #expect(queue.running(in: "new") == 0)
        let none = queue.take()?.job
        #expect(queue.isEmpty && none == nil)
    }

    @Test func aLaneThatEmptiedComesBackLast() {
        var queue = FairJobQueue<String>()
        queue.append("A1", lane: "a")
        queue.append("B1", lane: "b")
        var order = [queue.take()?.job]
        queue.append("A2", lane: "a")  // while A1 runs: behind B
        queue.append("C1", lane: "c")
        while let (job, _) = queue.take() { order.append(job) }
        #expect(order == ["A1", "B1", "A2", "C1"])
        #expect(queue.count == 0)
    }
}
