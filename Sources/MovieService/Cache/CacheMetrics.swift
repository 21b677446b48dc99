import CoreMetrics
import ServiceKit

/// The cache's figures in `/metrics`. The load tester reads `marquee_cache_hits_total` and
/// `marquee_cache_misses_total` (summed over their `op` label); the others explain them.
public struct CacheMetrics: Sendable {
    /// Lookups answered by Redis (a movie, or a tombstone/negative entry saying there is none).
    public let hits: Counter
    public let batchHits: Counter
    /// List pages answered from Redis.
    public let listHits: Counter
    /// Lookups that went to PostgreSQL (not cached, or Redis unavailable).
    public let misses: Counter
    public let batchMisses: Counter
    public let listMisses: Counter
    /// List pages (or list totals alone) stored after a miss.
    public let listFills: Counter
    /// Cache writes of a loaded movie or a negative entry that the script accepted.
    public let fills: Counter
    /// Misses that joined a load already running on their loop instead of querying.
    public let coalesced: Counter
    /// Lookups that Redis could not answer (down, timed out): served from PostgreSQL.
    public let failedLookups: Counter
    /// Writes the version guard or a tombstone refused (a stale fill that lost a race).
    public let refusedWrites: Counter
    /// Cache writes that failed (Redis down); an update's or delete's is retried.
    public let failedWrites: Counter
    /// SQL queries run to serve cache misses (single lookups and batches).
    public let databaseLoads: Counter
    /// Redis round trips made for lookups: `GET` per single lookup, `MGET` per batch.
    public let redisGets: Counter
    public let redisMGets: Counter
    /// Pipelined write-backs sent by batches.
    public let writePipelines: Counter

    public init(metrics: Metrics) {
        let hitsHelp = "Movie and list lookups answered from Redis."
        hits = metrics.counter("marquee_cache_hits_total", help: hitsHelp, labels: ["op": "get"])
        batchHits = metrics.counter("marquee_cache_hits_total", help: hitsHelp, labels: ["op": "batch"])
        let missesHelp = "Movie and list lookups served from PostgreSQL (not cached, or Redis unavailable)."
        misses = metrics.counter("marquee_cache_misses_total", help: missesHelp, labels: ["op": "get"])
        batchMisses = metrics.counter("marquee_cache_misses_total", help: missesHelp, labels: ["op": "batch"])
        listHits = metrics.counter("marquee_cache_hits_total", help: hitsHelp, labels: ["op": "list"])
        listMisses = metrics.counter("marquee_cache_misses_total", help: missesHelp, labels: ["op": "list"])
        listFills = metrics.counter("marquee_cache_list_fills_total", help: "List pages stored after a miss.")
        fills = metrics.counter("marquee_cache_fills_total", help: "Cache entries written after a miss.")
        coalesced = metrics.counter(
            "marquee_cache_coalesced_total", help: "Misses that shared a load already running (single flight).")
        failedLookups = metrics.counter(
            "marquee_cache_failed_lookups_total", help: "Lookups Redis could not answer (served from PostgreSQL).")
        refusedWrites = metrics.counter(
            "marquee_cache_refused_writes_total", help: "Cache writes refused by the version guard or a tombstone.")
        failedWrites = metrics.counter("marquee_cache_failed_writes_total", help: "Cache writes that failed.")
        databaseLoads = metrics.counter(
            "marquee_cache_database_loads_total", help: "SQL queries run to serve cache misses.")
        let readsHelp = "Redis round trips for movie lookups."
        redisGets = metrics.counter("marquee_cache_redis_reads_total", help: readsHelp, labels: ["command": "GET"])
        redisMGets = metrics.counter("marquee_cache_redis_reads_total", help: readsHelp, labels: ["command": "MGET"])
        writePipelines = metrics.counter(
            "marquee_cache_write_pipelines_total", help: "Pipelined cache write-backs sent by batch lookups.")
    }
}
