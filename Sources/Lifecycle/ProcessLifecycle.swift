import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// A server process as a swift-service-lifecycle `ServiceGroup`, and how it reacts to signals;
/// shared by the services and the gateway.
///
/// The group stops its services in reverse order (the servers drain first, the pools close
/// last). The first SIGTERM or SIGINT starts that graceful shutdown. A second one during the
/// drain stops at once: the group is cancelled (the servers close every connection they still
/// have, the shutdown work runs) and ``run(stopRequests:onSignal:)`` answers 130 as soon as the
/// group has ended or after ``interruptBound``, whichever comes first. Any other signal (the
/// gateway's SIGHUP) goes to the caller.
///
/// Bounds: the graceful shutdown may take the drain timeout plus `slack`, then the group
/// cancels its services; if it still has not ended ``cancellationBound`` later, `run` answers 1
/// and leaves it (the process exits). The group's own fatal-error bound is not used, so an
/// overrun ends with an exit code and a log line, not a crash.
public struct ProcessLifecycle: Sendable {
    /// Exit codes: drained, shutdown overran its bound (or a service failed), stopped by a second signal.
    public static let drained: Int32 = 0
    public static let overran: Int32 = 1
    public static let interrupted: Int32 = 130
    /// How long a cancelled group may take to end before `run` returns without it.
    public static let cancellationBound = Duration.seconds(5)
    /// How long a second signal waits for the group to end.
    public static let interruptBound = Duration.seconds(2)

    public let group: ServiceGroup
    private let logger: Logger
    private let shutdownBound: Duration

    /// - Parameters:
    ///   - services: in start-up order (the servers last): they stop last to first.
    ///   - drainTimeout: the servers' drain timeout; the graceful shutdown may take it plus `slack`.
    public init(
        services: [ServiceGroupConfiguration.ServiceConfiguration], drainTimeout: Duration, logger: Logger,
        slack: Duration = .seconds(10)
    ) {
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = drainTimeout + slack
        group = ServiceGroup(configuration: configuration)
        self.logger = logger
        shutdownBound = drainTimeout + slack + Self.cancellationBound
    }

    /// SIGTERM, SIGINT and `extra` as they arrive, read through swift-service-lifecycle's
    /// `UnixSignalsSequence` (libdispatch; on Linux a signalfd, so the signals must be blocked
    /// in every thread: call `SignalWatcher.block` in `main` before any thread exists).
    public static func signals(_ extra: [UnixSignal] = []) async -> AsyncStream<Int32> {
        let sequence = await UnixSignalsSequence(trapping: [.sigterm, .sigint] + extra)
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        let forwarder = Task {
            for await signal in sequence { continuation.yield(signal.rawValue) }
            continuation.finish()
        }
        continuation.onTermination = { _ in forwarder.cancel() }
        return stream
    }

    /// Starts the graceful shutdown without a signal (tests, an embedding program). Any task.
    public func triggerGracefulShutdown() async {
        await group.triggerGracefulShutdown()
    }

    /// Runs the group until all its services have returned (or a bound passed), and answers
    /// the exit code.
    /// - Parameters:
    ///   - stopRequests: signal numbers (``signals(_:)``, or a test's own stream); nil: none,
    ///     the group ends when a service ends it or on ``triggerGracefulShutdown()``.
    ///   - onSignal: any other signal in `stopRequests`.
    public func run(
        stopRequests: AsyncStream<Int32>?, onSignal: @escaping @Sendable (Int32) async -> Void = { _ in }
    ) async -> Int32 {
        enum Event { case groupEnded(Int32), shuttingDown, stopNow, deadline(Int32) }
        let (events, sink) = AsyncStream<Event>.makeStream()
        let (group, logger) = (self.group, self.logger)
        // Unstructured, so that a group that overruns its bound can be left behind.
        let running = Task {
            do {
                try await group.run()
                sink.yield(.groupEnded(Self.drained))
            } catch {
                logger.error("a service failed", error: error)
                sink.yield(.groupEnded(Self.overran))
            }
        }
        let listening = Task {
            guard let stopRequests else { return }
            var stops = 0
            for await signal in stopRequests {
                guard signal == SIGTERM || signal == SIGINT else {
                    await onSignal(signal)
                    continue
                }
                stops += 1
                if stops == 1 {
                    logger.info("shutting down", metadata: ["signal": .stringConvertible(signal)])
                    await group.triggerGracefulShutdown()
                    sink.yield(.shuttingDown)
                } else {
                    logger.warning("second signal: stopping without waiting for the drain")
                    sink.yield(.stopNow)
                    return
                }
            }
        }
        var timers: [Task<Void, Never>] = []
        func after(_ delay: Duration, _ event: Event) {
            timers.append(Task {
                guard (try? await Task.sleep(for: delay)) != nil else { return }
                sink.yield(event)
            })
        }
        defer {
            listening.cancel()
            for timer in timers { timer.cancel() }
        }
        var stoppedByUser = false
        for await event in events {
            switch event {
            case .groupEnded(let code):
                return stoppedByUser ? Self.interrupted : code
            case .shuttingDown:
                after(shutdownBound, .deadline(Self.overran))
            case .stopNow:
                stoppedByUser = true
                running.cancel()  // the servers close their connections (HTTPServerService)
                after(Self.interruptBound, .deadline(Self.interrupted))
            case .deadline(let code):
                logger.error(
                    code == Self.interrupted
                        ? "stopping now: requests still in flight are cut"
                        : "shutdown did not finish in time: exiting without it")
                return code
            }
        }
        return Self.drained
    }
}
