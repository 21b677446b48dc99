import Testing

@testable import Reactor

/// `LoopBound`'s check: a loop-bound value used from another thread traps in debug builds
/// (release builds compile the check out, so there is nothing to test there).
@Suite("Loop-bound values", .timeLimit(.minutes(2)))
struct LoopBoundTests {
    #if DEBUG
    @Test func aSocketUsedOffItsLoopTraps() async {
        await #expect(processExitsWith: .failure) {
            let group = try EventLoopGroup(loopCount: 1, affinity: .none)
            let (socket, _) = try await LoopEndingTests.pair(on: group.loops[0])
            // This test's task does not run on the loop.
            socket.readDeadline = monotonicNanoseconds()
        }
    }
    #endif

    @Test func aSocketUsedOnItsLoopDoesNotTrap() async throws {
        let group = try EventLoopGroup(loopCount: 1, affinity: .none)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let (socket, peer) = try await LoopEndingTests.pair(on: loop)
        await Task(executorPreference: loop) {
            socket.readDeadline = monotonicNanoseconds()
            socket.assertOnLoop()
            socket.close()
            peer.close()
        }.value
    }
}
