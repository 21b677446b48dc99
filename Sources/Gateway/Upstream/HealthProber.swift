import HTTP
import Reactor
import Synchronization

/// The active health check: every `interval`, `GET /health` on every instance of every
/// upstream; a 2xx re-admits an ejected instance, anything else counts as a failure.
///
/// Runs on one loop (its client pool there). Probes go out concurrently and each is
/// bounded by the client's connect and response timeouts.
final class HealthProber: Sendable {
    private let gateway: Gateway
    private let interval: Duration
    private let loop: EventLoop
    private let stopped = Atomic<Bool>(false)

    init(gateway: Gateway, interval: Duration, loop: EventLoop) {
        self.gateway = gateway
        self.interval = interval
        self.loop = loop
    }

    func stop() { stopped.store(true, ordering: .releasing) }

    func run() async {
        guard interval > .zero else { return }
        await withTaskExecutorPreference(loop) { @concurrent in
            while !stopped.load(ordering: .acquiring) {
                // Sleep in short steps so that a shutdown is not held up by a long interval.
                var slept = Duration.zero
                while slept < interval && !stopped.load(ordering: .acquiring) {
                    let step = min(interval - slept, .milliseconds(100))
                    try? await loop.sleep(for: step)
                    slept += step
                }
                if stopped.load(ordering: .acquiring) { return }
                await probeAll()
            }
        }
    }

    /// Probes every instance once, concurrently.
    func probeAll() async {
        await withDiscardingTaskGroup { probes in
            for upstream in gateway.upstreams.values {
                for (index, origin) in upstream.origins.enumerated() {
                    probes.addTask(executorPreference: loop) {
                        let request = HTTPClientRequest(method: .GET, origin: origin, target: "/health")
                        let healthy: Bool
                        do {
                            let response = try await self.gateway.client.execute(request)
                            healthy = (200..<300).contains(response.status.code)
                        } catch {
                            healthy = false
                        }
                        upstream.probed(index, healthy: healthy)
                    }
                }
            }
        }
    }
}
