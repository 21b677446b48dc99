import Redis

/// The Redis side of the cache-aside: reads with `GET`/`MGET`, writes only through
/// ``CacheScript``.
///
/// Never throws: a Redis that is down or slow is an answer (``Read/unavailable``,
/// ``WriteOutcome/failed``) that the caller turns into a database read. The client fails
/// commands at once while disconnected and reconnects by itself, so an outage costs
/// microseconds per lookup, not a timeout.
public struct MovieCache: Sendable {
    public let redis: RedisClient
    public let ttl: CacheTTLs

    public init(redis: RedisClient, ttl: CacheTTLs) {
        self.redis = redis
        self.ttl = ttl
    }

    public enum Read: Sendable, Equatable {
        /// What Redis holds for the id; nil when nothing (or something we never write).
        case value(CacheValue?)
        case unavailable
    }

    public enum WriteOutcome: Sendable, Equatable {
        case written
        /// The script's guard kept what was there (a newer version, or a tombstone).
        case refused
        case failed
    }

    /// `GET movie:{id}`, on the calling loop's connection.
    public func read(_ id: Int64) async -> Read {
        do {
            guard let bytes = try await redis.get(CacheValue.key(id)) else { return .value(nil) }
            return .value(CacheValue.parse(bytes, id: id))
        } catch {
            return .unavailable
        }
    }

    /// One `MGET` for all `ids`. - Returns: one value per id, or nil when Redis failed.
    public func readMany(_ ids: [Int64]) async -> [CacheValue?]? {
        do {
            let values = try await redis.mget(ids.map(CacheValue.key))
            return zip(ids, values).map { id, bytes in bytes.flatMap { CacheValue.parse($0, id: id) } }
        } catch {
            return nil
        }
    }

    /// One write through the script: `EVALSHA`, then `EVAL` if the server lost the script.
    public func write(_ operation: CacheScript.Operation) async -> WriteOutcome {
        do {
            return Self.outcome(try await redis.send(CacheScript.command(operation, ttl: ttl)))
        } catch let error as RedisError where error.serverErrorKind == "NOSCRIPT" {
            do {
                return Self.outcome(try await redis.send(CacheScript.command(operation, ttl: ttl, useSource: true)))
            } catch {
                return .failed
            }
        } catch {
            return .failed
        }
    }

    /// Several writes in one pipeline (one round trip); those that met `NOSCRIPT` are sent
    /// again with `EVAL` in a second one (only after a Redis restart).
    public func writeMany(_ operations: [CacheScript.Operation]) async -> [WriteOutcome] {
        if operations.isEmpty { return [] }
        let replies = await redis.pipeline(operations.map { CacheScript.command($0, ttl: ttl) })
        var outcomes = [WriteOutcome](repeating: .failed, count: operations.count)
        var retry: [Int] = []
        for (index, reply) in replies.enumerated() where index < operations.count {
            switch reply {
            case .success(let value): outcomes[index] = Self.outcome(value)
            case .failure(let error) where error.serverErrorKind == "NOSCRIPT": retry.append(index)
            case .failure: outcomes[index] = .failed
            }
        }
        if !retry.isEmpty {
            let again = await redis.pipeline(retry.map { CacheScript.command(operations[$0], ttl: ttl, useSource: true) })
            for (index, reply) in zip(retry, again) {
                outcomes[index] = (try? reply.get()).map(Self.outcome) ?? .failed
            }
        }
        return outcomes
    }

    /// Whether Redis answers right now (the health check's `"cache"`).
    public func ping() async -> Bool {
        guard redis.isConnected else { return false }
        return (try? await redis.ping()) != nil
    }

    private static func outcome(_ reply: RedisValue) -> WriteOutcome {
        reply.integer == 1 ? .written : reply.integer == 0 ? .refused : .failed
    }
}
