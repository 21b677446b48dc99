import Testing

@testable import HTTP

/// The accept path's rule for a connection adopted on its loop, without sockets: a late
/// adoption during a shutdown gets what the shutdown job would have given it.
@Suite("HTTP server: a connection adopted during a shutdown (no sockets)", .timeLimit(.minutes(1)))
struct ConnectionAdmissionTests {
    /// Outside a shutdown every connection waits for its first bytes, whatever it speaks.
    @Test(arguments: [true, false], [true, false])
    func withoutShutdownEveryConnectionWaitsForItsFirstBytes(counted: Bool, settled: Bool) {
        let admission = ConnectionAdmission.decide(
            shuttingDown: false, countedBeforeShutdown: counted, protocolIsSettled: settled)
        #expect(admission == .awaitFirstBytes)
    }

    /// Accepted before the shutdown, adopted after its job: closed where the protocol is
    /// still to settle (TLS, h2c), served where it is plain HTTP/1.1, as the job does with
    /// connections waiting for their first bytes.
    @Test func aLateAdoptionGetsWhatTheShutdownJobWouldHaveGivenIt() {
        #expect(ConnectionAdmission.decide(shuttingDown: true, countedBeforeShutdown: true, protocolIsSettled: false) == .close)
        #expect(ConnectionAdmission.decide(shuttingDown: true, countedBeforeShutdown: true, protocolIsSettled: true) == .serve)
    }

    /// Accepted during the shutdown (the kernel had queued them): served, TLS or not.
    @Test(arguments: [true, false])
    func connectionsAcceptedDuringTheShutdownAreServed(settled: Bool) {
        let admission = ConnectionAdmission.decide(
            shuttingDown: true, countedBeforeShutdown: false, protocolIsSettled: settled)
        #expect(admission == .serve)
    }
}
