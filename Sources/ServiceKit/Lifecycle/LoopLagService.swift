import Reactor
import ServiceLifecycle

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
