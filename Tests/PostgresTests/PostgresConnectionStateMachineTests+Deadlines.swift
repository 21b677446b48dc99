import Testing

@testable import Postgres

/// Abandoned requests (their deadline passed) keep their place in the pipeline: their late
/// results are matched and dropped, and the requests behind them get their own.
extension PostgresConnectionStateMachineTests {
    /// Feeds one statement's result, NULL and sync.
    func answer(_ machine: inout Machine, _ value: Int) -> Machine.ResultAction {
        _ = machine.resultReceived(value)
        _ = machine.endReceived()
        return machine.syncReceived()
    }

    @Test func anAbandonedRequestsResultsAreDroppedAndTheNextGetsItsOwn() {
        var machine = readyMachine()
        _ = machine.requestSubmitted("slow", statementCount: 1)
        _ = machine.requestSubmitted("next", statementCount: 1)
        let (abandoned, oldestLive) = machine.abandon { $0 == "slow" }
        #expect(abandoned == ["slow"])
        #expect(oldestLive == "next")
        #expect(machine.abandonedCount == 1 && machine.inFlightCount == 2)
        #expect(machine.oldest?.request == "slow" && machine.oldest?.isAbandoned == true)

        guard case .discarded("slow", [1]) = answer(&machine, 1) else {
            Issue.record("the abandoned request's results were not dropped")
            return
        }
        #expect(machine.abandonedCount == 0)
        guard case .complete("next", [2]) = answer(&machine, 2) else {
            Issue.record("the next request did not get its own result")
            return
        }
        #expect(machine.inFlightCount == 0)
    }

    @Test func abandoningTwiceReturnsARequestOnce() {
        var machine = readyMachine()
        _ = machine.requestSubmitted("a", statementCount: 1)
        _ = machine.requestSubmitted("b", statementCount: 1)
        #expect(machine.abandon { _ in true }.abandoned == ["a", "b"])
        let again = machine.abandon { _ in true }
        #expect(again.abandoned.isEmpty && again.oldestLive == nil)
        #expect(machine.abandonedCount == 2)
    }

    @Test func closingFailsOnlyTheRequestsStillWaited() {
        var machine = readyMachine()
        _ = machine.requestSubmitted("a", statementCount: 1)
        _ = machine.requestSubmitted("b", statementCount: 1)
        _ = machine.requestSubmitted("c", statementCount: 1)
        _ = machine.abandon { $0 != "c" }
        // "a" and "b" were answered with a timeout already: resuming them again would crash.
        #expect(machine.closed() == ["c"])
        #expect(machine.abandonedCount == 0)
    }

    @Test func anAbandonedRequestInTheMiddleKeepsTheOrder() {
        var machine = readyMachine()
        _ = machine.requestSubmitted("a", statementCount: 1)
        _ = machine.requestSubmitted("b", statementCount: 2)
        _ = machine.requestSubmitted("c", statementCount: 1)
        _ = machine.abandon { $0 == "b" }
        guard case .complete("a", [1]) = answer(&machine, 1) else { Issue.record("a"); return }
        guard case .none = answer(&machine, 2) else { Issue.record("b completed after one statement"); return }
        guard case .discarded("b", [2, 3]) = answer(&machine, 3) else { Issue.record("b not dropped"); return }
        guard case .complete("c", [4]) = answer(&machine, 4) else { Issue.record("c"); return }
    }
}
