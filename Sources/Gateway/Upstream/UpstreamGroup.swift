import HTTP
import Logging
import Reactor
import Synchronization

/// One upstream service's instances and their health, shared by every loop.
///
/// Why shared and locked rather than per loop: an ejection learnt on one loop should
/// spare the others at once, and the lock is held for a few comparisons, a small part of
/// a proxied request. Connection pools, which are the hot state, stay per loop in the
/// ``HTTPClient``. May be called from any thread.
public final class UpstreamGroup: Sendable {
    public let service: UpstreamService
    public let origins: [HTTPOrigin]
    /// `host:port` of each instance, for the access log.
    public let labels: [String]
    /// Lock rule: held only inside the methods below, never across an await.
    private let balancer: Mutex<UpstreamBalancer>
    /// Where ejections and re-admissions are reported.
    let logger: Logger

    public init(
        service: UpstreamService, instances: [UpstreamURL], configuration: GatewayConfiguration,
        logger: Logger = Logger(label: "gateway")
    ) {
        precondition(!instances.isEmpty, "\(service) has no instance")
        self.service = service
        self.logger = logger
        origins = instances.map { HTTPOrigin(scheme: "http", host: $0.host, port: $0.port) }
        labels = instances.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" }
        let policy: UpstreamBalancer.Policy = configuration.balancing == .leastLoaded ? .leastLoaded : .roundRobin
        balancer = Mutex(
            UpstreamBalancer(
                count: instances.count, policy: policy, ejectAfter: configuration.ejectAfterFailures,
                ejectionTime: configuration.ejectionTime))
    }

    /// Picks an instance (counted in flight until ``finish(_:outcome:)``).
    public func select(excluding: Int? = nil) -> Int {
        // On a loop, its cached clock: ejection times are seconds long.
        let now = EventLoop.current?.now ?? monotonicNanoseconds()
        return balancer.withLock { $0.select(now: now, excluding: excluding) }
    }

    public enum Outcome: Sendable {
        /// The instance answered.
        case success
        /// It failed to connect or answer: counts toward ejection.
        case failure
        /// Neither (the client went away, our own limit): leaves its health as it was.
        case neutral
    }

    /// A request picked by ``select(excluding:)`` is over.
    public func finish(_ index: Int, outcome: Outcome) {
        let ejected = balancer.withLock { balancer -> Bool in
            balancer.finished(index)
            switch outcome {
            case .success:
                balancer.succeeded(index)
                return false
            case .failure: return balancer.failed(index, now: monotonicNanoseconds())
            case .neutral: return false
            }
        }
        if ejected { report("ejected after failures", index) }
    }

    /// Records the active probe's verdict for instance `index`.
    public func probed(_ index: Int, healthy: Bool) {
        let now = monotonicNanoseconds()
        let (wasEjected, changed) = balancer.withLock { balancer -> (Bool, Bool) in
            let before = balancer.instances[index].ejectedUntil != nil
            let changed = balancer.probed(index, healthy: healthy, now: now)
            return (before, changed)
        }
        if changed {
            report(wasEjected && healthy ? "re-admitted by health probe" : "ejected by health probe", index)
        }
    }

    /// Whether instance `index` takes requests now (tests and logs).
    public func isAdmitted(_ index: Int) -> Bool {
        let now = monotonicNanoseconds()
        return balancer.withLock { $0.isAdmitted(index, now: now) }
    }

    /// One line about instance `index`:
    /// `{…,"msg":"instance ejected after failures","instance":"127.0.0.1:8002","upstream_service":"movies"}`.
    private func report(_ what: String, _ index: Int) {
        logger.info(
            "instance \(what)", metadata: ["upstream_service": .string(service.rawValue), "instance": .string(labels[index])])
    }
}
