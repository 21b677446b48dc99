import Redis

/// Whole list pages (`GET /api/movies?genre=&limit=&offset=`) and list totals in Redis,
/// each valid for one *catalogue token*.
///
/// The token (`movies:catalog`) is a random value that every movie write replaces after its
/// database write and before it answers. A page or a total is stored with the token that
/// was current before its query ran, and only while that token is still current (one
/// script compares and sets); it is served only when its token is the current one. So a
/// list read that starts after a write has answered never sees the list from before it:
/// the page it is served was stored under a token set after that write committed, by a
/// query that started later still.
///
/// Random tokens rather than a counter: a token that Redis loses (evicted under
/// `maxmemory`, or a restart) is replaced by a fresh one that no stored page carries,
/// where a counter would restart at values old pages still hold.
///
/// Never throws: a Redis that is down or slow is an answer (``Lookup/unavailable``, false)
/// after which the caller reads PostgreSQL. Goes through the single-movie cache's breaker.
public struct MovieListCache: Sendable {
    /// The single-movie cache: its Redis client and its breaker.
    public let cache: MovieCache
    /// Seconds a page or a total lives: it bounds Redis memory (keys are per distinct
    /// query) and how long another instance could serve a page whose token this process
    /// failed to replace (Redis unreachable from here only).
    public let ttl: Int

    /// The catalogue token's key.
    public static let tokenKey = "movies:catalog"

    public init(cache: MovieCache, ttl: Int) {
        self.cache = cache
        self.ttl = ttl
    }

    private var redis: RedisClient { cache.redis }
    private var breaker: CacheBreaker { cache.breaker }

    public enum Lookup: Sendable, Equatable {
        /// The page, current: its list's total and its JSON.
        case page(total: Int, body: ArraySlice<UInt8>)
        /// No current page; `token` is the one to store it under, `total` the list's total
        /// when that is current.
        case miss(token: [UInt8], total: Int?)
        /// Redis holds no token (a fresh or restarted Redis): nothing stored can be trusted.
        case noToken
        case unavailable
    }

    /// One `MGET` of the token, the list's total and (when ``MovieListQuery/cachesPage``) the page.
    public func lookup(_ query: MovieListQuery) async -> Lookup {
        guard cache.admitted() else { return .unavailable }
        var keys = [Self.tokenKey, query.totalKey]
        if query.cachesPage { keys.append(query.pageKey) }
        let values: [[UInt8]?]
        do {
            values = try await redis.mget(keys)
            breaker.record(nil)
        } catch {
            breaker.record(error)
            return .unavailable
        }
        guard values.count == keys.count, let token = values[0], !token.isEmpty else { return .noToken }
        if values.count > 2, let page = values[2], let entry = ListCacheValue.parse(page, token: token),
            let bodyStart = entry.bodyStart
        {
            return .page(total: entry.total, body: page[bodyStart...])
        }
        let total = values[1].flatMap { ListCacheValue.parse($0, token: token) }?.total
        return .miss(token: token, total: total)
    }

    /// Stores the list's total and, when given, the page, if `token` is still current.
    /// - Parameter page: the Redis value from ``ListCacheValue/page(token:total:)``, JSON appended.
    /// - Returns: whether the script stored them (false: a write replaced the token, or Redis failed).
    @discardableResult
    public func fill(_ query: MovieListQuery, token: [UInt8], total: Int, page: [UInt8]?) async -> Bool {
        guard cache.admitted() else { return false }
        var keys = [Self.tokenKey, query.totalKey]
        var args = [token, ListCacheValue.total(token: token, total: total), Array(String(ttl).utf8)]
        if let page {
            keys.append(query.pageKey)
            args.append(page)
        }
        do {
            let reply: RedisValue
            do {
                reply = try await redis.evalsha(sha: ListFillScript.sha, keys: keys, args: args)
            } catch let error as RedisError where error.serverErrorKind == "NOSCRIPT" {
                reply = try await redis.eval(script: ListFillScript.source, keys: keys, args: args)
            }
            breaker.record(nil)
            return reply.integer == 1
        } catch {
            breaker.record(error)
            return false
        }
    }

    /// Replaces the token (after a movie write): every stored page and total stops being served.
    /// - Returns: false when Redis did not confirm it.
    public func replaceToken() async -> Bool {
        await setToken(onlyIfMissing: false)
    }

    /// Sets a token when Redis has none (``Lookup/noToken``), so that later reads can fill.
    public func createTokenIfMissing() async {
        _ = await setToken(onlyIfMissing: true)
    }

    private func setToken(onlyIfMissing: Bool) async -> Bool {
        guard cache.admitted() else { return false }
        var command: [[UInt8]] = [Array("SET".utf8), Array(Self.tokenKey.utf8), ListCacheValue.newToken()]
        if onlyIfMissing { command.append(Array("NX".utf8)) }
        do {
            _ = try await redis.send(command)
            breaker.record(nil)
            return true
        } catch {
            breaker.record(error)
            return false
        }
    }
}

/// One list request's query, and its Redis keys.
public struct MovieListQuery: Sendable, Hashable {
    /// The genre filter as the client sent it (nil: the whole catalogue). Keys use it as
    /// sent, not folded: folding case exactly as PostgreSQL's `lower()` does is not ours to
    /// copy, and `Drama` and `drama` merely get a page each.
    public var genre: String?
    public var limit: Int
    public var offset: Int

    /// The deepest row a cached page may reach: pages past it are read from PostgreSQL each
    /// time (with the cached total), so that a client walking offsets cannot fill Redis.
    public static let cachedRows = 1000
    /// Genres longer than this are not cached at all (no stored genre is that long; it keeps keys short).
    public static let maxCachedGenreBytes = 200

    public init(genre: String?, limit: Int, offset: Int) {
        self.genre = genre
        self.limit = limit
        self.offset = offset
    }

    /// Whether anything about this list is cached.
    public var isCacheable: Bool { (genre?.utf8.count ?? 0) <= Self.maxCachedGenreBytes }

    /// Whether this page is cached (its total always is, when ``isCacheable``).
    public var cachesPage: Bool { isCacheable && offset + limit <= Self.cachedRows }

    private var listName: String { genre.map { "genre:" + $0 } ?? "all" }
    /// `movies:total:genre:<genre>` or `movies:total:all`.
    var totalKey: String { "movies:total:" + listName }
    /// `movies:page:<limit>:<offset>:genre:<genre>` (the genre last: it may hold any byte).
    var pageKey: String { "movies:page:\(limit):\(offset):" + listName }
}

/// The list cache's Redis values: a total is `<token>|<total>`, a page `<token>|<total>|<JSON array>`.
public enum ListCacheValue {
    static let separator = UInt8(ascii: "|")

    /// A fresh token: 16 hex digits of a random 64-bit number.
    static func newToken() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var value = generator.next() as UInt64
        var token = [UInt8](repeating: 0, count: 16)
        let digits = Array("0123456789abcdef".utf8)
        for index in (0..<16).reversed() {
            token[index] = digits[Int(value & 0xF)]
            value >>= 4
        }
        return token
    }

    public static func total(token: [UInt8], total: Int) -> [UInt8] {
        var value = token
        value.append(separator)
        value.append(contentsOf: String(total).utf8)
        return value
    }

    /// A page's value up to its JSON: append the array's bytes to it.
    public static func page(token: [UInt8], total: Int, capacity: Int) -> [UInt8] {
        var value: [UInt8] = []
        value.reserveCapacity(token.count + 22 + capacity)
        value.append(contentsOf: token)
        value.append(separator)
        value.append(contentsOf: String(total).utf8)
        value.append(separator)
        return value
    }

    /// Reads a value stored under `token`. - Returns: nil for another token or anything we
    /// never write; `bodyStart` is where a page's JSON begins (nil for a total).
    public static func parse(_ value: [UInt8], token: [UInt8]) -> (total: Int, bodyStart: Int?)? {
        guard value.count > token.count + 1, value.starts(with: token), value[token.count] == separator else {
            return nil
        }
        var index = token.count + 1
        var total = 0
        let digitsStart = index
        // At most 18 digits: no list is longer, and it cannot overflow.
        while index < value.count, index - digitsStart < 18, value[index] >= 0x30, value[index] <= 0x39 {
            total = total * 10 + Int(value[index] - 0x30)
            index += 1
        }
        guard index > digitsStart else { return nil }
        if index == value.count { return (total, nil) }
        guard value[index] == separator, index + 1 < value.count else { return nil }
        return (total, index + 1)
    }
}

/// The compare-and-set through which every list fill goes: `KEYS` = token, total[, page];
/// `ARGV` = the token the query ran under, the total's value, TTL[, the page's value].
/// Stores nothing (returns 0) unless that token is still the current one.
enum ListFillScript {
    static let source = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
        if KEYS[3] then redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[3]) end
        return 1
        """

    static let sha = SHA1.hexDigest(Array(source.utf8))
}
