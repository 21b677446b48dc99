import CoreMetrics
import HTTP
import Reactor

/// The runtime's figures in `/metrics` that every server process has: what the loops, the
/// server and the client's pools hold right now. All are read when a scrape asks (pools on
/// their own loops), never on the request path; only the loop lag is measured continuously,
/// by ``LoopLagProbe``.
extension Metrics {
    /// `marquee_http_connections_open{loop}`: the client connections each loop serves, over
    /// all of `servers` (the gateway's plain and TLS listeners count together).
    public func observe(servers: [HTTPServer], group: EventLoopGroup) {
        for loop in group.loops {
            let index = loop.index
            gauge("marquee_http_connections_open", help: "Client connections each event loop serves.",
                  labels: ["loop": String(index)]) {
                var open = 0
                for server in servers {
                    let perLoop = server.openConnectionsPerLoop
                    if index < perLoop.count { open += perLoop[index] }
                }
                return Double(open)
            }
        }
    }

    /// One probe per loop, each setting its loop's `marquee_event_loop_lag_seconds` (run them
    /// with ``LoopLagService``).
    public func loopLagProbes(group: EventLoopGroup) -> [LoopLagProbe] {
        group.loops.map { loop in
            LoopLagProbe(
                loop: loop,
                lag: meter("marquee_event_loop_lag_seconds",
                           help: "How late the last timer probe ran on each event loop (work that held the loop).",
                           labels: ["loop": String(loop.index)]))
        }
    }

    /// `marquee_upstream_pool_connections{upstream,loop,state="busy"|"idle"}` and
    /// `marquee_upstream_pool_waiters{upstream,loop}` for `client`'s pools to `origin`; with
    /// `instance` (the gateway, whose upstreams have several), an `instance` label too.
    public func observe(client: HTTPClient, origin: HTTPOrigin, upstream: String, instance: String? = nil) {
        let connectionsHelp = "Keep-alive connections to an upstream per loop, by state."
        let waitersHelp = "Calls waiting for a connection to an upstream, per loop."
        let loops = client.group.loops.map { loop in
            let index = String(loop.index)
            if let instance {
                return (
                    loop: loop,
                    busy: meter("marquee_upstream_pool_connections", help: connectionsHelp,
                                labels: ["upstream": upstream, "instance": instance, "loop": index, "state": "busy"]),
                    idle: meter("marquee_upstream_pool_connections", help: connectionsHelp,
                                labels: ["upstream": upstream, "instance": instance, "loop": index, "state": "idle"]),
                    waiters: meter("marquee_upstream_pool_waiters", help: waitersHelp,
                                   labels: ["upstream": upstream, "instance": instance, "loop": index]))
            }
            return (
                loop: loop,
                busy: meter("marquee_upstream_pool_connections", help: connectionsHelp,
                            labels: ["upstream": upstream, "loop": index, "state": "busy"]),
                idle: meter("marquee_upstream_pool_connections", help: connectionsHelp,
                            labels: ["upstream": upstream, "loop": index, "state": "idle"]),
                waiters: meter("marquee_upstream_pool_waiters", help: waitersHelp,
                               labels: ["upstream": upstream, "loop": index]))
        }
        collect {
            for entry in loops {
                let counts = await client.poolCounts(for: origin, on: entry.loop)
                entry.busy.set(max(0, counts.open - counts.idle))
                entry.idle.set(counts.idle)
                entry.waiters.set(counts.waiting)
            }
        }
    }
}

/// Measures one loop's lag: it sleeps `interval` on the loop's own timers and records how much
/// later than asked it ran again (the time other work held the loop, plus the timer's own
/// slack of microseconds). Runs until its task is cancelled or the loop stops.
public struct LoopLagProbe: Sendable {
    let loop: EventLoop
    let lag: Meter

    func run(interval: Duration = .milliseconds(500)) async {
        let asked = interval.nanoseconds
        while !Task.isCancelled {
            let start = monotonicNanoseconds()
            do { try await loop.sleep(for: interval) } catch { return }
            let slept = monotonicNanoseconds() &- start
            lag.set(Double(slept > asked ? slept - asked : 0) / 1e9)
        }
    }
}
