import Reactor
import ServiceLifecycle

/// The event loops' lag probes as a `Service`: each probe runs on its own loop (its task prefers
/// that loop's executor) until the group shuts down.
public struct LoopLagService: Service, CustomStringConvertible {
    let probes: [LoopLagProbe]
    public var description: String { "loop-lag-probes" }

    public init(probes: [LoopLagProbe]) { self.probes = probes }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { tasks in
                for probe in probes {
                    tasks.addTask(executorPreference: probe.loop) { await probe.run() }
                }
            }
        }
    }
}
