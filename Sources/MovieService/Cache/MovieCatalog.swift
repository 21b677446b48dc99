import Reactor
import ServiceKit
import Synchronization

/// Movies through the cache-aside of DESIGN.md: reads try Redis, then PostgreSQL (one query
/// per id per loop, however many miss at once), and write back through the guarded script;
/// writes go to PostgreSQL first, then rewrite (or tombstone) the cache entry.
///
/// Lists are cached whole, per page, under a catalogue token that every write replaces
/// (``MovieListCache``).
///
/// Why a read after a write never sees the old movie:
/// - each write bumps the row's version and then `put`s the new version; the script never
///   lets an older version replace it, so a fill that read the row before the write loses;
/// - a delete leaves a tombstone that refuses fills for ``CacheTTLs/tombstone`` seconds;
/// - a write-back that fails (Redis down or unreachable) is kept as a *repair*: until it
///   has been applied, lookups of that id skip the cache, and every lookup first tries to
///   apply pending repairs. So a Redis that comes back with an old copy (a restart that
///   reloads its snapshot) is corrected before that copy is ever served.
public final class MovieCatalog: Sendable {
    public let repository: MovieRepository
    public let cache: MovieCache
    public let lists: MovieListCache
    public let metrics: CacheMetrics
    private let flights: LoopSingleFlight<Int64, CachedMovie?>
    private let listFlights: LoopSingleFlight<ListFlightKey, MovieListPage>
    /// Movie writes whose token replacement Redis did not confirm: while above zero, lists
    /// skip the cache (a page stored before such a write could still be current), and each
    /// list read first tries to replace the token. A counter, not a flag, so that a
    /// replacement clears only the failures it saw begin before it.
    private let unconfirmedListWrites = Atomic<Int>(0)
    // Lock rule: taken briefly to record, apply or test repairs; `repairCount` mirrors the
    // dictionary's size so that the hot path reads one atomic when there is nothing to repair.
    private let repairs = Mutex<[Int64: CacheScript.Operation]>([:])
    private let repairCount = Atomic<Int>(0)
    /// Test hook: milliseconds each miss's load waits before querying (0 in production).
    private let loadDelayMilliseconds = Atomic<Int>(0)

    public init(
        repository: MovieRepository, cache: MovieCache, lists: MovieListCache, metrics: CacheMetrics,
        group: EventLoopGroup
    ) {
        self.repository = repository
        self.cache = cache
        self.lists = lists
        self.metrics = metrics
        self.flights = LoopSingleFlight(group: group)
        self.listFlights = LoopSingleFlight(group: group)
    }

    /// Where an answer came from (`X-Cache`).
    public enum Source: Sendable, Equatable {
        case cache
        case database
    }

    // MARK: Reads

    /// The movie `id`, nil when there is none.
    /// - Throws: the database's error when the cache could not answer and PostgreSQL failed.
    public func movie(_ id: Int64) async throws -> (movie: CachedMovie?, source: Source) {
        guard id > 0 else { return (nil, .database) }
        if repairCount.load(ordering: .relaxed) > 0 {
            await applyRepairs()
            if isRepairPending(id) {
                metrics.misses.increment()
                metrics.databaseLoads.increment()
                return (try await repository.find(id).map(CachedMovie.init), .database)
            }
        }
        metrics.redisGets.increment()
        switch await cache.read(id) {
        case .value(.movie(let cached)):
            metrics.hits.increment()
            return (cached, .cache)
        case .value(.deleted), .value(.absent):
            metrics.hits.increment()
            return (nil, .cache)
        case .value(nil):
            metrics.misses.increment()
            return (try await load(id, writeBack: true).get(), .database)
        case .unavailable:
            metrics.misses.increment()
            metrics.failedLookups.increment()
            return (try await load(id, writeBack: false).get(), .database)
        }
    }

    /// Loads `id` from PostgreSQL, once per loop however many ask at the same time, and
    /// writes the result back (the movie, or a negative entry) unless Redis is known down.
    private func load(_ id: Int64, writeBack: Bool) async -> LoopSingleFlight<Int64, CachedMovie?>.Outcome {
        await flights.run(id, coalesced: { metrics.coalesced.increment() }) {
            metrics.databaseLoads.increment()
            let delay = loadDelayMilliseconds.load(ordering: .relaxed)
            if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
            do {
                let cached = try await repository.find(id).map(CachedMovie.init)
                if writeBack {
                    let outcome = await cache.write(cached.map { .put($0) } ?? .absent(id: id))
                    count(fill: outcome)
                }
                return .success(cached)
            } catch {
                return .failure(error)
            }
        }
    }

    /// The movies among `ids` that exist, in the order first requested, each once: one
    /// `MGET`, one SQL query for the misses, one pipelined write-back of the movies found.
    /// Answers are kept by position, so a batch that Redis answers whole hashes nothing.
    public func movies(ids: [Int64]) async throws -> [CachedMovie] {
        let unique = Self.distinct(ids)
        if unique.isEmpty { return [] }
        if repairCount.load(ordering: .relaxed) > 0 { await applyRepairs() }

        var found = [CachedMovie?](repeating: nil, count: unique.count)
        // Positions in `unique` that Redis did not answer.
        var missing: [Int] = []
        metrics.redisMGets.increment()
        let values = await cache.readMany(unique)
        if let values {
            let checkRepairs = repairCount.load(ordering: .relaxed) > 0
            var hits: UInt64 = 0
            for (position, value) in values.enumerated() {
                if checkRepairs && isRepairPending(unique[position]) {
                    missing.append(position)
                    continue
                }
                switch value {
                case .movie(let cached)?:
                    found[position] = cached
                    hits += 1
                case .deleted?, .absent?:
                    hits += 1
                case nil:
                    missing.append(position)
                }
            }
            metrics.batchHits.increment(by: hits)
        } else {
            metrics.failedLookups.increment()
            missing = Array(unique.indices)
        }
        metrics.batchMisses.increment(by: UInt64(missing.count))

        if !missing.isEmpty {
            metrics.databaseLoads.increment()
            var positions: [Int64: Int] = [:]
            positions.reserveCapacity(missing.count)
            for position in missing { positions[unique[position]] = position }
            var writes: [CacheScript.Operation] = []
            writes.reserveCapacity(missing.count)
            for movie in try await repository.find(ids: missing.map { unique[$0] }) {
                guard let position = positions[movie.id] else { continue }
                let cached = CachedMovie(movie)
                found[position] = cached
                writes.append(.put(cached))
            }
            // Unknown ids get no negative entry here: a batch is open to anyone and names up
            // to 1000 ids, so caching its misses would let one request write 1000 keys (and
            // fill Redis with ids nobody will read). A single `GET /api/movies/{id}` still
            // caches its miss; a batch's unknown ids cost one indexed query next time.
            if values != nil {
                metrics.writePipelines.increment()
                for outcome in await cache.writeMany(writes) { count(fill: outcome) }
            }
        }
        return found.compactMap { $0 }
    }

    /// The ids that can name a movie (above 0), each once, in the order first given. A
    /// sorted copy tells whether there are repeats at all (fewer instructions than hashing
    /// every id); only a batch with repeats is filtered through a set.
    static func distinct(_ ids: [Int64]) -> [Int64] {
        var sorted = ids
        sorted.sort()
        var repeats = false
        for index in sorted.indices.dropFirst() where sorted[index] == sorted[index - 1] {
            repeats = true
            break
        }
        if !repeats { return (sorted.first ?? 1) > 0 ? ids : ids.filter { $0 > 0 } }
        var seen = Set<Int64>(minimumCapacity: ids.count)
        return ids.filter { $0 > 0 && seen.insert($0).inserted }
    }

    // MARK: Lists

    /// One list page (`GET /api/movies`) and its list's total, from the list cache when its
    /// token is current (``MovieListCache``), else from PostgreSQL — one query per page and
    /// token per loop however many miss at once; the page and total are then stored under
    /// the token the lookup saw.
    /// - Throws: the database's error when the cache could not answer and PostgreSQL failed.
    public func list(_ query: MovieListQuery) async throws -> (page: MovieListPage, source: Source) {
        guard query.isCacheable else { return (try await loadList(query), .database) }
        if unconfirmedListWrites.load(ordering: .relaxed) > 0 {
            await confirmListWrites()
            if unconfirmedListWrites.load(ordering: .relaxed) > 0 {
                metrics.listMisses.increment()
                return (try await loadList(query), .database)
            }
        }
        switch await lists.lookup(query) {
        case .page(let total, let body):
            metrics.listHits.increment()
            return (MovieListPage(body: Array(body), total: total), .cache)
        case .miss(let token, let total):
            metrics.listMisses.increment()
            let outcome = await listFlights.run(
                ListFlightKey(query: query, token: token), coalesced: { metrics.coalesced.increment() }
            ) {
                do {
                    return .success(try await loadList(query, token: token, knownTotal: total))
                } catch {
                    return .failure(error)
                }
            }
            return (try outcome.get(), .database)
        case .noToken:
            metrics.listMisses.increment()
            await lists.createTokenIfMissing()
            return (try await loadList(query), .database)
        case .unavailable:
            metrics.listMisses.increment()
            metrics.failedLookups.increment()
            return (try await loadList(query), .database)
        }
    }

    /// Reads a page from PostgreSQL (with its total unless `knownTotal` gives it) and, with a
    /// `token`, stores it under that token.
    private func loadList(_ query: MovieListQuery, token: [UInt8]? = nil, knownTotal: Int? = nil) async throws
        -> MovieListPage
    {
        metrics.databaseLoads.increment()
        let movies: [Movie]
        let total: Int
        if let knownTotal {
            movies = try await repository.list(genre: query.genre, limit: query.limit, offset: query.offset)
            total = knownTotal
        } else {
            (movies, total) = try await repository.listWithTotal(
                genre: query.genre, limit: query.limit, offset: query.offset)
        }
        let storesPage = token != nil && query.cachesPage
        var json = JSONWriter(
            after: storesPage ? ListCacheValue.page(token: token ?? [], total: total, capacity: movies.count * 256) : [])
        let bodyStart = json.bytes.count
        json.array { list in for movie in movies { list.value(movie) } }
        let page = MovieListPage(body: Array(json.bytes[bodyStart...]), total: total)
        if let token {
            if await lists.fill(query, token: token, total: total, page: storesPage ? json.bytes : nil) {
                metrics.listFills.increment()
            }
        }
        return page
    }

    /// Replaces the catalogue token after a movie write; a failure keeps lists off the
    /// cache until a later replacement succeeds.
    private func replaceListToken() async {
        if await !lists.replaceToken() {
            unconfirmedListWrites.add(1, ordering: .relaxed)
        }
    }

    /// Replaces the token for the writes that failed to; clears only those it covers.
    private func confirmListWrites() async {
        let pending = unconfirmedListWrites.load(ordering: .relaxed)
        guard pending > 0, await lists.replaceToken() else { return }
        _ = unconfirmedListWrites.compareExchange(expected: pending, desired: 0, ordering: .relaxed)
    }

    // MARK: Writes (PostgreSQL first, then the cache)

    /// - Parameter idempotency: the request's key, stored with the movie (see ``MovieRepository/insert(_:remembering:)``).
    public func create(_ draft: MovieDraft, remembering idempotency: IdempotentRequest? = nil) async throws -> CachedMovie {
        let cached = CachedMovie(try await repository.insert(draft, remembering: idempotency))
        await rewrite(.put(cached))
        return cached
    }

    /// - Returns: the updated movie, nil when `id` does not exist.
    public func update(_ id: Int64, _ patch: MoviePatch) async throws -> CachedMovie? {
        guard id > 0, let movie = try await repository.update(id, patch) else { return nil }
        let cached = CachedMovie(movie)
        if !patch.isEmpty { await rewrite(.put(cached)) }
        return cached
    }

    /// - Returns: false when `id` does not exist.
    public func delete(_ id: Int64) async throws -> Bool {
        guard id > 0, try await repository.delete(id) != nil else { return false }
        await rewrite(.delete(id: id))
        return true
    }

    /// Writes the cache after a database write (the movie, and the list token); a failure
    /// becomes a pending repair.
    private func rewrite(_ operation: CacheScript.Operation) async {
        await replaceListToken()
        switch await cache.write(operation) {
        case .written: break
        case .refused: metrics.refusedWrites.increment()
        case .failed:
            metrics.failedWrites.increment()
            recordRepair(operation)
        }
    }

    private func count(fill outcome: MovieCache.WriteOutcome) {
        switch outcome {
        case .written: metrics.fills.increment()
        case .refused: metrics.refusedWrites.increment()
        case .failed: metrics.failedWrites.increment()
        }
    }

    // MARK: Repairs

    private func recordRepair(_ operation: CacheScript.Operation) {
        repairs.withLock { pending in
            pending[operation.id] = operation
            repairCount.store(pending.count, ordering: .relaxed)
        }
    }

    private func isRepairPending(_ id: Int64) -> Bool {
        repairs.withLock { $0[id] != nil }
    }

    /// Sends every pending repair in one pipeline; those Redis applied (or refused, which
    /// means something newer is there) are done. Cheap while Redis is down: the client
    /// fails the pipeline at once; skipped while the breaker is open (copying thousands of
    /// repairs per lookup to learn that Redis is still not asked would halve throughput).
    private func applyRepairs() async {
        if cache.breaker.isOpen { return }
        let snapshot = repairs.withLock { Array($0.values) }
        if snapshot.isEmpty { return }
        let outcomes = await cache.writeMany(snapshot)
        repairs.withLock { pending in
            for (operation, outcome) in zip(snapshot, outcomes) where outcome != .failed {
                // A newer write for the same id may have replaced this one meanwhile.
                if pending[operation.id] == operation { pending[operation.id] = nil }
            }
            repairCount.store(pending.count, ordering: .relaxed)
        }
    }

    /// Repairs waiting for Redis (tests and health).
    public var pendingRepairs: Int { repairCount.load(ordering: .relaxed) }

    /// Makes every miss's load wait `milliseconds` first, so that a test can pile misses up
    /// behind a running load without depending on timing.
    public func _testOnly_setLoadDelay(milliseconds: Int) {
        loadDelayMilliseconds.store(milliseconds, ordering: .relaxed)
    }

    /// Loads running on the calling loop (tests).
    public var _testOnly_loadsInFlight: Int { flights._testOnly_inFlight }
}

/// A list page's JSON array and its list's total (`X-Total-Count`).
public struct MovieListPage: Sendable, Equatable {
    public let body: [UInt8]
    public let total: Int
}

/// Misses share a load only for the same page at the same token: a miss that saw a newer
/// token (after a write) must not be answered by a query that started before that write.
struct ListFlightKey: Hashable, Sendable {
    let query: MovieListQuery
    let token: [UInt8]
}
