import CoreMetrics
import HTTP
import Postgres
import Reactor
import Redis

/// The runtime's figures in `/metrics`: what the loops, the server, the pools and the blocking
/// pool hold right now. All are read when a scrape asks (pools on their own loops), never on
/// the request path; only the loop lag is measured continuously, by ``LoopLagProbe``.
extension Metrics {
    /// Per loop: `marquee_event_loop_lag_seconds` (set by the probes that ``loopLagProbes(group:)``
    /// returns) and `marquee_http_connections_open`; and `marquee_blocking_pool_queued_jobs` for
    /// the shared blocking pool (password hashing).
    func observe(server: HTTPServer, group: EventLoopGroup) {
        for loop in group.loops {
            let index = loop.index
            gauge("marquee_http_connections_open", help: "Client connections each event loop serves.",
                  labels: ["loop": String(index)]) {
                let perLoop = server.openConnectionsPerLoop
                return index < perLoop.count ? Double(perLoop[index]) : 0
            }
        }
        gauge("marquee_blocking_pool_queued_jobs", help: "Jobs waiting for a thread of the blocking pool (scrypt).") {
            Double(BlockingPool.shared.queuedJobs)
        }
    }

    /// One probe per loop, each setting its loop's `marquee_event_loop_lag_seconds`.
    func loopLagProbes(group: EventLoopGroup) -> [LoopLagProbe] {
        group.loops.map { loop in
            LoopLagProbe(
                loop: loop,
                lag: meter("marquee_event_loop_lag_seconds",
                           help: "How late the last timer probe ran on each event loop (work that held the loop).",
                           labels: ["loop": String(loop.index)]))
        }
    }

    /// `marquee_db_pool_connections{loop,state="ready"|"connecting"}` and
    /// `marquee_db_pool_waiters{loop}` for each loop's PostgreSQL pool.
    public func observe(postgres: PostgresClient) {
        let pools = postgres.pools.map { pool in
            let loop = String(pool.loop.index)
            return (
                pool: pool,
                ready: meter("marquee_db_pool_connections", help: "PostgreSQL connections per loop's pool, by state.",
                             labels: ["loop": loop, "state": "ready"]),
                connecting: meter("marquee_db_pool_connections", help: "PostgreSQL connections per loop's pool, by state.",
                                  labels: ["loop": loop, "state": "connecting"]),
                waiters: meter("marquee_db_pool_waiters", help: "Queries waiting for a PostgreSQL connection, per loop.",
                               labels: ["loop": loop]))
        }
        collect {
            for entry in pools {
                let statistics = await entry.pool.statistics()
                entry.ready.set(statistics.ready)
                entry.connecting.set(statistics.connecting)
                entry.waiters.set(statistics.waiting)
            }
        }
    }

    /// `marquee_redis_connected{loop}` (1 or 0) and `marquee_redis_pending_commands{loop}`.
    public func observe(redis: RedisClient) {
        let connections = redis.connections.map { connection in
            let loop = String(connection.loop.index)
            return (
                connection: connection,
                connected: meter("marquee_redis_connected", help: "Whether each loop's Redis connection is up (1) or not (0).",
                                 labels: ["loop": loop]),
                pending: meter("marquee_redis_pending_commands", help: "Redis commands sent and not answered yet, per loop.",
                               labels: ["loop": loop]))
        }
        collect {
            for entry in connections {
                entry.connected.set(entry.connection.isConnected ? 1 : 0)
                entry.pending.set(await entry.connection.pendingCommandCount())
            }
        }
    }

    /// `marquee_upstream_pool_connections{upstream,loop,state="busy"|"idle"}` and
    /// `marquee_upstream_pool_waiters{upstream,loop}` for `client`'s pools to `origin`.
    public func observe(client: HTTPClient, origin: HTTPOrigin, upstream: String) {
        let loops = client.group.loops.map { loop in
            let index = String(loop.index)
            return (
                loop: loop,
                busy: meter("marquee_upstream_pool_connections", help: "Keep-alive connections to an upstream per loop, by state.",
                            labels: ["upstream": upstream, "loop": index, "state": "busy"]),
                idle: meter("marquee_upstream_pool_connections", help: "Keep-alive connections to an upstream per loop, by state.",
                            labels: ["upstream": upstream, "loop": index, "state": "idle"]),
                waiters: meter("marquee_upstream_pool_waiters", help: "Calls waiting for a connection to an upstream, per loop.",
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
struct LoopLagProbe: Sendable {
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
