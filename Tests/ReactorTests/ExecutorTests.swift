import CLinux
import Synchronization
import Testing

@testable import Reactor

/// An actor bound to one loop, as the services' pools and caches are.
actor LoopBoundCounter {
    nonisolated let unownedExecutor: UnownedSerialExecutor
    let loop: EventLoop
    private(set) var value = 0

    init(loop: EventLoop) {
        self.loop = loop
        self.unownedExecutor = loop.asUnownedSerialExecutor()
    }

    func increment() -> Bool {
        value += 1
        return loop.inLoop
    }
}

@Suite("Event loops as Swift executors", .timeLimit(.minutes(10)))
struct ExecutorTests {
    static let group = try! EventLoopGroup(loopCount: 2)

    @Test func tasksWithAPreferenceRunOnTheirLoopAcrossAwaits() async throws {
        for loop in Self.group.loops {
            let results = try await Task(executorPreference: loop) { () -> [Bool] in
                var seen: [Bool] = [loop.inLoop]
                try await loop.sleep(for: .milliseconds(1))
                seen.append(loop.inLoop)
                await Task.yield()
                seen.append(loop.inLoop)
                return seen
            }.value
            #expect(results == [true, true, true])
        }
    }

    @Test func childTasksInheritTheLoop() async {
        let loop = Self.group.loops[1]
        let allOnLoop = await Task(executorPreference: loop) {
            await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<50 { group.addTask { loop.inLoop } }
                return await group.reduce(true) { $0 && $1 }
            }
        }.value
        #expect(allOnLoop)
    }

    @Test func loopBoundActorsRunOnTheirLoop() async {
        let loop = Self.group.loops[0]
        let counter = LoopBoundCounter(loop: loop)
        // Called from off the loop: the actor hops onto its loop.
        #expect(await counter.increment())
        // Called from a task on the other loop: still runs on the actor's loop.
        let fromOtherLoop = await Task(executorPreference: Self.group.loops[1]) { await counter.increment() }.value
        #expect(fromOtherLoop)
        #expect(await counter.value == 2)
    }

    @Test func threadIdentityIsStablePerLoop() async {
        let loop = Self.group.loops[0]
        let first = await Task(executorPreference: loop) { CLinux_gettid() }.value
        let second = await Task(executorPreference: loop) { CLinux_gettid() }.value
        #expect(first == second)
        #expect(EventLoop.current == nil)
    }

    @Test func executeFromManyThreadsRunsEveryJobInOrderPerThread() async {
        let loop = Self.group.loops[0]
        let producers = 4
        let jobsEach = 1000
        // What each producer's jobs saw, in the order the loop ran them.
        let ran = Locked([[Int]](repeating: [], count: producers))
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        for index in 0..<jobsEach {
                            loop.execute {
                                let count = ran.withLock { ran in
                                    ran[producer].append(index)
                                    return ran[producer].count
                                }
                                if count == jobsEach { done.resume() }
                            }
                        }
                    }
                }
            }
        }
        for (producer, order) in ran.withLock({ $0 }).enumerated() {
            #expect(order == Array(0..<jobsEach), "producer \(producer)'s jobs ran out of order or not all")
        }
    }
}

/// A lock-protected value that closures can share (a `Mutex` cannot be captured by escaping closures).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
