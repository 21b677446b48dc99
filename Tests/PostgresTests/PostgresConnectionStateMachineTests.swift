import Testing

@testable import Postgres

/// The pipelined connection's protocol logic, walked through libpq's event sequences
/// without a socket.
@Suite(.timeLimit(.minutes(5))) struct PostgresConnectionStateMachineTests {
    typealias Machine = PostgresConnectionStateMachine<String, Int>

    func readyMachine() -> Machine {
        var machine = Machine()
        machine.connectStarted()
        machine.connected()
        return machine
    }

    @Test func oneStatementCompletesAfterResultEndAndSync() {
        var machine = readyMachine()
        guard case .send = machine.requestSubmitted("a", statementCount: 1) else { Issue.record("not sent"); return }
        #expect(machine.inFlightCount == 1)
        guard case .none = machine.resultReceived(7) else { Issue.record("completed early"); return }
        #expect(machine.endReceived() == .consumed)
        guard case .complete(let request, let results) = machine.syncReceived() else { Issue.record("not complete"); return }
        #expect(request == "a" && results == [7])
        #expect(machine.inFlightCount == 0)
        #expect(machine.endReceived() == .nothingPending)
    }

    @Test func pipelinedRequestsCompleteInOrder() {
        var machine = readyMachine()
        _ = machine.requestSubmitted("a", statementCount: 1)
        _ = machine.requestSubmitted("b", statementCount: 2)
        _ = machine.requestSubmitted("c", statementCount: 1)
        var completed: [(String, [Int])] = []
        for value in [1, 2, 3, 4] {
            _ = machine.resultReceived(value)
            _ = machine.endReceived()
            if case .complete(let request, let results) = machine.syncReceived() { completed.append((request, results)) }
        }
        #expect(completed.map(\.0) == ["a", "b", "c"])
        #expect(completed.map(\.1) == [[1], [2, 3], [4]])
    }

    @Test func aStrayNullBetweenStatementsIsIgnored() {
        var machine = readyMachine()
        _ = machine.requestSubmitted("a", statementCount: 2)
        _ = machine.resultReceived(1)
        #expect(machine.endReceived() == .consumed)
        _ = machine.syncReceived()
        #expect(machine.endReceived() == .nothingPending)  // NULL after a sync
        _ = machine.resultReceived(2)
        _ = machine.endReceived()
        guard case .complete(_, let results) = machine.syncReceived() else { Issue.record("not complete"); return }
        #expect(results == [1, 2])
    }

    @Test func anErrorAfterRowsReplacesThem() {
        var machine = readyMachine()
        _ = machine.requestSubmitted("a", statementCount: 1)
        _ = machine.resultReceived(1)
        _ = machine.resultReceived(-1, isFailure: true)
        _ = machine.resultReceived(2)
        _ = machine.endReceived()
        guard case .complete(_, let results) = machine.syncReceived() else { Issue.record("not complete"); return }
        #expect(results == [-1])
    }

    @Test func aPreparedStatementAnswersWithItsExecuteResult() {
        var machine = readyMachine()
        // Statement 1: prepare + execute; statement 2: execute of a cached statement.
        _ = machine.requestSubmitted("a", commands: [2, 1])
        _ = machine.resultReceived(0)  // prepare: command OK
        #expect(machine.endReceived() == .consumed)
        guard case .protocolViolation = machine.syncReceived() else { Issue.record("sync accepted early"); return }
        _ = machine.resultReceived(5)  // execute
        #expect(machine.endReceived() == .consumed)
        _ = machine.syncReceived()
        _ = machine.resultReceived(6)
        _ = machine.endReceived()
        guard case .complete(_, let results) = machine.syncReceived() else { Issue.record("not complete"); return }
        #expect(results == [5, 6])
    }

    @Test func aFailedPrepareIsTheStatementsResult() {
        var machine = readyMachine()
        _ = machine.requestSubmitted("a", commands: [2])
        _ = machine.resultReceived(-42, isFailure: true)  // prepare: syntax error
        _ = machine.endReceived()
        _ = machine.resultReceived(-1, isFailure: true)  // execute: pipeline aborted
        _ = machine.endReceived()
        guard case .complete(_, let results) = machine.syncReceived() else { Issue.record("not complete"); return }
        #expect(results == [-42])
    }

    @Test func closingFailsEveryRequestInFlightAndRefusesNewOnes() {
        var machine = readyMachine()
        _ = machine.requestSubmitted("a", statementCount: 1)
        _ = machine.requestSubmitted("b", statementCount: 1)
        _ = machine.resultReceived(1)
        #expect(machine.closed() == ["a", "b"])
        #expect(machine.state == .closed)
        guard case .fail = machine.requestSubmitted("c", statementCount: 1) else { Issue.record("accepted"); return }
    }

    @Test func requestsBeforeConnectingAreRefused() {
        var machine = Machine()
        machine.connectStarted()
        guard case .fail = machine.requestSubmitted("a", statementCount: 1) else { Issue.record("accepted"); return }
        machine.connectFailed()
        #expect(machine.state == .closed)
    }

    @Test func resultsWithNothingInFlightAreProtocolViolations() {
        var machine = readyMachine()
        guard case .protocolViolation = machine.resultReceived(1) else { Issue.record("accepted"); return }
        guard case .protocolViolation = machine.syncReceived() else { Issue.record("accepted"); return }
        _ = machine.requestSubmitted("a", statementCount: 1)
        guard case .protocolViolation = machine.syncReceived() else { Issue.record("sync before result accepted"); return }
    }
}
