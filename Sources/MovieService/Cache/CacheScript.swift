import Redis

/// The one Lua script through which every cache write goes, so that each write is a
/// compare-and-set on the server:
///
/// - `put` (fills and write-backs after an update) never replaces a newer version, and
///   never writes over a tombstone, so a slow fill cannot bring back an older row or a
///   deleted movie;
/// - `absent` (negative cache) writes only where nothing is cached (`NX`): a movie
///   written meanwhile wins;
/// - `delete` leaves a short-lived tombstone whatever was there.
///
/// Called with `EVALSHA` (only the hash travels), falling back to `EVAL` when the server
/// does not know the script (`NOSCRIPT`, after a restart or a `SCRIPT FLUSH`).
/// `KEYS[1]` = `movie:{id}`; `ARGV` = operation, version, value, TTL in seconds.
/// Returns 1 when it wrote, 0 when the guard refused.
public enum CacheScript {
    public static let source = """
        local current = redis.call('GET', KEYS[1])
        local op = ARGV[1]
        if op == 'delete' then
          redis.call('SET', KEYS[1], '~', 'EX', ARGV[4])
          return 1
        end
        if op == 'absent' then
          if current then return 0 end
          redis.call('SET', KEYS[1], '-', 'EX', ARGV[4])
          return 1
        end
        if current then
          if current == '~' then return 0 end
          local cached = string.match(current, '^(%d+)|')
          if cached and tonumber(cached) >= tonumber(ARGV[2]) then return 0 end
        end
        redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
        return 1
        """

    public static let sha = SHA1.hexDigest(Array(source.utf8))

    /// One write, as the script's operation.
    public enum Operation: Sendable, Equatable {
        case put(CachedMovie)
        case absent(id: Int64)
        case delete(id: Int64)

        var id: Int64 {
            switch self {
            case .put(let movie): movie.id
            case .absent(let id), .delete(let id): id
            }
        }
    }

    /// The script's `KEYS` and `ARGV` for `operation`.
    static func arguments(
        _ operation: Operation, ttl: CacheTTLs
    ) -> (keys: [String], args: [[UInt8]]) {
        let key = CacheValue.key(operation.id)
        switch operation {
        case .put(let movie):
            return ([key], [Array("put".utf8), Array(String(movie.version).utf8), Array(movie.cacheValue),
                            Array(String(ttl.entry).utf8)])
        case .absent:
            return ([key], [Array("absent".utf8), [0x30], [], Array(String(ttl.absent).utf8)])
        case .delete:
            return ([key], [Array("delete".utf8), [0x30], [], Array(String(ttl.tombstone).utf8)])
        }
    }

    /// The `EVALSHA` (or `EVAL`) command for pipelines.
    static func command(_ operation: Operation, ttl: CacheTTLs, useSource: Bool = false) -> [[UInt8]] {
        let (keys, args) = arguments(operation, ttl: ttl)
        var command: [[UInt8]] = useSource
            ? [Array("EVAL".utf8), Array(source.utf8)] : [Array("EVALSHA".utf8), Array(sha.utf8)]
        command.append(Array(String(keys.count).utf8))
        command.append(contentsOf: keys.map { Array($0.utf8) })
        command.append(contentsOf: args)
        return command
    }
}

/// How long each kind of cache value lives, in seconds.
public struct CacheTTLs: Sendable, Equatable {
    /// A movie (`CACHE_TTL`, default 3600).
    public var entry: Int
    /// A deleted movie's tombstone: long enough to outlive any fill that read the row
    /// before the delete (fills are bounded by the database's timeouts).
    public var tombstone: Int
    /// An unknown id's negative entry: short, since a create writes the new movie over it
    /// anyway (ids are new on create), this only bounds a failed write-back's harm.
    public var absent: Int
    /// A list page or list total (``MovieListCache``): a write replaces its token anyway,
    /// so this only bounds memory and a failed token replacement's reach.
    public var listPage: Int

    public init(entry: Int = 3600, tombstone: Int = 60, absent: Int = 30, listPage: Int = 60) {
        self.entry = entry
        self.tombstone = tombstone
        self.absent = absent
        self.listPage = listPage
    }
}
