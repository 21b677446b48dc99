/// What a server does with a connection when its loop adopts it, decided from where the
/// shutdown stands: the rule of ``HTTPServer``'s accept path, kept apart so it can be read
/// and tested without sockets.
///
/// A connection is counted on the accepting loop and may be handed to another loop, so it
/// can be adopted after that loop's shutdown job ran (the hop was queued behind it). Had it
/// come first, the job would have found it waiting for its first bytes: served if its
/// protocol is settled (plain HTTP/1.1: a request on its way is answered), closed if not
/// (a TLS handshake or h2c preface still to come, which only a timeout would end). A late
/// adoption gets the same outcome. Connections accepted during the shutdown (the kernel had
/// queued them) are served.
enum ConnectionAdmission: Equatable {
    /// Not shutting down: the connection waits for its first bytes without a task.
    case awaitFirstBytes
    /// Served at once (its task starts; a shutdown in progress answers and closes it).
    case serve
    /// Closed without being served, as the shutdown job would have closed it.
    case close

    /// - Parameters:
    ///   - shuttingDown: whether ``HTTPServer/shutdown()`` has begun, read at adoption.
    ///   - countedBeforeShutdown: whether it had not begun when the connection was accepted.
    ///   - protocolIsSettled: whether every connection speaks plain HTTP/1.1 (no TLS, no h2c).
    static func decide(shuttingDown: Bool, countedBeforeShutdown: Bool, protocolIsSettled: Bool) -> Self {
        guard shuttingDown else { return .awaitFirstBytes }
        return countedBeforeShutdown && !protocolIsSettled ? .close : .serve
    }
}
