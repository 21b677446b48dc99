import CoreMetrics
import Postgres
import ProcessMetrics
import Reactor
import Redis

/// The services' own runtime figures in `/metrics` (beside the loops', the server's and the
/// upstream pools' of ProcessMetrics): the blocking pool, PostgreSQL's and Redis's pools. All
/// are read when a scrape asks (pools on their own loops), never on the request path.
extension Metrics {
    /// `marquee_blocking_pool_queued_jobs`: jobs waiting for the shared blocking pool
    /// (password hashing).
    func observeBlockingPool() {
        gauge("marquee_blocking_pool_queued_jobs", help: "Jobs waiting for a thread of the blocking pool (scrypt).") {
            Double(BlockingPool.shared.queuedJobs)
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
}
