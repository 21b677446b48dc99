import Redis

/// The Redis side of the cache-aside: reads with `GET`/`MGET`, writes only through
/// ``CacheScript``.
///
/// Never throws: a Redis that is down or slow is an answer (``Read/unavailable``,
/// ``WriteOutcome/failed``) that the caller turns into a database read. The client fails
/// commands at once while disconnected and reconnects by itself, so a Redis that is down
/// costs microseconds per lookup; one that hangs costs one command timeout, after which
/// the ``breaker`` opens and lookups skip Redis until a probe gets an answer.
public struct MovieCache: Sendable {
    public let redis: RedisClient
    public let ttl: CacheTTLs
    public let breaker: CacheBreaker

    public init(redis: RedisClient, ttl: CacheTTLs, breaker: CacheBreaker = CacheBreaker()) {
        self.redis = redis
        self.ttl = ttl
        self.breaker = breaker
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

    /// Whether a lookup or a write may use Redis now. When the breaker picks this call as
    /// its probe, a `PING` goes out in its place and the call goes on without Redis: no
    /// request ever waits on a Redis that may still hang once the breaker has opened.
    /// (The list cache asks it too: one breaker for the service's Redis.)
    func admitted() -> Bool {
        switch breaker.callRequested() {
        case .allow:
            return true
        case .refuse:
            return false
        case .probe:
            let breaker = breaker
            redis.connection().send([Array("PING".utf8)]) { result in
                if case .failure(let error) = result { breaker.record(error) } else { breaker.record(nil) }
            }
            return false
        }
    }

    /// `GET movie:{id}`, on the calling loop's connection.
    public func read(_ id: Int64) async -> Read {
        guard admitted() else { return .unavailable }
        do {
            let bytes = try await redis.get(CacheValue.key(id))
            breaker.record(nil)
            guard let bytes else { return .value(nil) }
            return .value(CacheValue.parse(bytes, id: id))
        } catch {
            breaker.record(error)
            return .unavailable
        }
    }

    /// One `MGET` for all `ids`. - Returns: one value per id, or nil when Redis failed.
    /// The movies found share the answer's buffer (``CachedMovie/cacheValue`` is a slice of it).
    public func readMany(_ ids: [Int64]) async -> [CacheValue?]? {
        guard admitted() else { return nil }
        do {
            let reply = try await redis.send(Self.mgetCommand(ids))
            guard let values = reply.bulkStrings(), values.count == ids.count else {
                throw RedisError(.protocolError, message: "MGET answered \(RedisValue(reply))")
            }
            breaker.record(nil)
            var read: [CacheValue?] = []
            read.reserveCapacity(ids.count)
            for (id, value) in zip(ids, values) {
                read.append(value.flatMap { CacheValue.parse($0, id: id) })
            }
            return read
        } catch {
            breaker.record(error)
            return nil
        }
    }

    /// `MGET movie:{id}...`, each key written straight into the command.
    static func mgetCommand(_ ids: [Int64]) -> RedisCommand {
        var command = RedisCommand(argumentCount: ids.count + 1, capacity: ids.count * 24)
        command.append("MGET")
        command.append(CacheValue.keyPrefix, ids)
        return command
    }

    /// One write through the script: `EVALSHA`, then `EVAL` if the server lost the script.
    public func write(_ operation: CacheScript.Operation) async -> WriteOutcome {
        guard admitted() else { return .failed }
        do {
            let reply = try await redis.send(CacheScript.command(operation, ttl: ttl))
            breaker.record(nil)
            return Self.outcome(reply)
        } catch let error as RedisError where error.serverErrorKind == "NOSCRIPT" {
            do {
                let reply = try await redis.send(CacheScript.command(operation, ttl: ttl, useSource: true))
                breaker.record(nil)
                return Self.outcome(reply)
            } catch {
                breaker.record(error)
                return .failed
            }
        } catch {
            breaker.record(error)
            return .failed
        }
    }

    /// Several writes in one pipeline (one round trip); those that met `NOSCRIPT` are sent
    /// again with `EVAL` in a second one (only after a Redis restart).
    public func writeMany(_ operations: [CacheScript.Operation]) async -> [WriteOutcome] {
        if operations.isEmpty { return [] }
        guard admitted() else { return [WriteOutcome](repeating: .failed, count: operations.count) }
        let replies = await redis.pipeline(operations.map { CacheScript.command($0, ttl: ttl) })
        breaker.record(Self.firstFailure(replies))
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
            breaker.record(Self.firstFailure(again))
            for (index, reply) in zip(retry, again) {
                outcomes[index] = (try? reply.get()).map(Self.outcome) ?? .failed
            }
        }
        return outcomes
    }

    /// Whether Redis answers right now (the health check's `"cache"`): `"down"` at once
    /// while the breaker is open, without waiting on a hung Redis. When the breaker is due
    /// for a probe this PING is the probe (the health check may wait for it), so that a
    /// service without traffic still finds out that Redis is back.
    public func ping() async -> Bool {
        guard redis.isConnected, breaker.callRequested() != .refuse else { return false }
        do {
            try await redis.ping()
            breaker.record(nil)
            return true
        } catch {
            breaker.record(error)
            return false
        }
    }

    /// What the breaker should hear about a pipeline: its first failure other than an
    /// error reply (Redis answered those), or nil.
    private static func firstFailure(_ replies: [Result<RedisValue, RedisError>]) -> RedisError? {
        for case .failure(let error) in replies where error.code != .server { return error }
        return nil
    }

    private static func outcome(_ reply: RedisValue) -> WriteOutcome {
        reply.integer == 1 ? .written : reply.integer == 0 ? .refused : .failed
    }
}
