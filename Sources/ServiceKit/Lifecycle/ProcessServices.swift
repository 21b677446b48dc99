import HTTP
import Logging
import Reactor
import ServiceLifecycle

/// The HTTP server as a `Service`: serves until the group shuts down gracefully, then drains
/// (stops accepting, finishes requests in flight, closes idle connections; force-closes what is
/// left after its drain timeout) and returns.
struct HTTPServerService: Service, CustomStringConvertible {
    let server: HTTPServer
    let logger: Logger
    var description: String { "http-server" }

    func run() async throws {
        await withGracefulShutdownHandler {
            await server.run()
        } onGracefulShutdown: { [server, logger] in
            logger.info("shutting down")
            server.shutdown()
        }
    }
}

/// Shutdown work as a `Service` (closing a pool or a client, stopping the deletion relay): it
/// waits for the group's graceful shutdown, then does its work and returns. Placed before the
/// server in the group, it runs once the server has drained; several run last to first.
struct ShutdownWorkService: Service, CustomStringConvertible {
    let description: String
    let work: @Sendable () async -> Void

    func run() async throws {
        // Throws only when the group is cancelled (past its shutdown bound): the work runs anyway.
        try? await gracefulShutdown()
        await work()
    }
}

/// The event loops' lag probes as a `Service`: each probe runs on its own loop (its task prefers
/// that loop's executor) until the group shuts down.
struct LoopLagService: Service, CustomStringConvertible {
    let probes: [LoopLagProbe]
    var description: String { "loop-lag-probes" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { tasks in
                for probe in probes {
                    tasks.addTask(executorPreference: probe.loop) { await probe.run() }
                }
            }
        }
    }
}
