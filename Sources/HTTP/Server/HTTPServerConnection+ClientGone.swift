import Reactor

/// Stopping the work of a client that has gone (``HTTPServerConfiguration/cancelsAbandonedRequests``):
/// when the client's end of stream arrives while its handler runs, the handler's task is
/// cancelled and whatever it answers is dropped.
///
/// Why: work for nobody is taken from everyone else. A sign-up flood whose clients hang up
/// would otherwise still cost every password hash it queued; cancelled, a hash that has not
/// started is dropped (`BlockingPool.run`) and a pool wait ends. HTTP/1.1 cannot tell a close
/// from a half-close, so a client that half-closes after its request counts as gone, as
/// nginx counts it (499).
///
/// The handler runs in the connection's own task (no task per request), so that task is the
/// one cancelled; the connection then ends at once, as after a failure. Loop-only.
extension HTTPServerConnection {
    /// From now until the stream is closed, the client's end of stream reaches ``clientWentAway()``.
    func watchForTheClientGoing() {
        // unowned(unsafe): closing the stream drops this closure, and the connection lives until
        // then (its task, or the server's table while it is parked, holds it).
        stream.onPeerClosed = { [unowned(unsafe) self] in self.clientWentAway() }
    }

    /// Calls the responder; when abandoned requests are cancelled, as the task to cancel if the
    /// client goes before the answer (``clientIsGone`` then says so).
    @inline(__always)
    func respond(to request: consuming HTTPServerRequest) async throws -> HTTPServerResponse {
        guard shared.cancelsAbandonedRequests else { return try await responder.respond(to: request) }
        // This task, kept only while the handler runs in it (so surely alive), as its address:
        // outside the standard library every copy of an `UnsafeCurrentTask` goes through its
        // value witnesses, and this runs for every request (as `SocketWaitScope` keeps its owner).
        runningHandler = withUnsafeCurrentTask { unsafeBitCast($0, to: UnsafeRawPointer?.self) }
        defer { runningHandler = nil }
        // Gone before its handler started: the end of stream came with the request.
        if stream.isPeerClosed { clientWentAway() }
        return try await responder.respond(to: request)
    }

    /// The client's end of stream (or a failure), as epoll reported it. A handler running for
    /// it is cancelled; between requests there is nothing to do (the next read ends the
    /// connection).
    private func clientWentAway() {
        // The drain's own end of reading raises the same event: that is not the client going.
        guard let handler = runningHandler, !readingEnded else { return }
        clientIsGone = true
        // Safe: the address of this connection's task, which lives while its handler runs
        // (`respond` clears it when the handler returns); `unsafeBitCast` checks at run time
        // that the sizes agree, and the `UnsafeCurrentTask` made here is used at once.
        unsafeBitCast(handler, to: UnsafeCurrentTask.self).cancel()
    }
}
