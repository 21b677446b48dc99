import HTTP
import ServiceLifecycle

/// HTTP servers as one `Service` (the gateway's plain and TLS listeners drain together):
/// they serve until the group shuts down gracefully, then drain (stop accepting, finish
/// requests in flight, close idle connections; force-close what is left after their drain
/// timeout). When the group is cancelled (a second stop signal) they close every connection
/// at once.
public struct HTTPServerService: Service, CustomStringConvertible {
    let servers: [HTTPServer]
    public var description: String { "http-server" }

    public init(_ servers: [HTTPServer]) { self.servers = servers }

    public func run() async {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { tasks in
                    for server in servers { tasks.addTask { await server.run() } }
                }
            } onGracefulShutdown: { [servers] in
                for server in servers { server.shutdown() }
            }
        } onCancel: { [servers] in
            for server in servers { server.closeAllConnections() }
        }
    }
}

/// A process's shutdown work as one `Service` (stopping the deletion relay, closing clients and
/// pools): it waits for the group's graceful shutdown, then runs each piece of work, last to
/// first. Placed before the servers in the group, it runs once they have drained. One service
/// rather than one per piece, so that the order holds when the group is cancelled too (a
/// second signal), which ends all its services at once.
public struct ShutdownWorkService: Service, CustomStringConvertible {
    let work: [@Sendable () async -> Void]
    public var description: String { "shutdown-work" }

    /// - Parameter work: in start-up order; run in reverse.
    public init(_ work: [@Sendable () async -> Void]) { self.work = work }

    public func run() async throws {
        // Throws only when the group is cancelled (a second signal, or past its bound): the
        // work runs anyway.
        try? await gracefulShutdown()
        for piece in work.reversed() { await piece() }
    }
}
