import HTTP
import Reactor

/// Hits and misses as one source counted them at one moment (cumulative counters).
public struct CacheCounters: Sendable, Equatable, Codable {
    public var hits: Double
    public var misses: Double

    public init(hits: Double, misses: Double) {
        self.hits = hits
        self.misses = misses
    }

    /// The counts between `before` and `self`.
    public func since(_ before: CacheCounters) -> CacheCounters {
        CacheCounters(hits: hits - before.hits, misses: misses - before.misses)
    }

    /// hits / (hits + misses), nil when nothing was counted.
    public var hitRate: Double? {
        let total = hits + misses
        return total > 0 ? hits / total : nil
    }
}

/// Reads the cache counters that the movie service and Redis keep, before and after a run.
public enum CacheCounterProbe {
    public static let hitsMetric = "marquee_cache_hits_total"
    public static let missesMetric = "marquee_cache_misses_total"

    /// Scrapes a Prometheus endpoint (the movie service's `/metrics`) on `loop`.
    public static func scrapeMetrics(_ url: TargetURL, on loop: EventLoop, timeout: Duration = .seconds(5))
        async throws -> CacheCounters
    {
        let text = try await withTaskExecutorPreference(loop) { @concurrent () async throws -> String in
            let target = HTTP1Target(url: url, transport: Transports.plain, timeout: timeout)
            let connection = target.makeExecutor(on: loop)
            defer { connection.close() }
            let result = await connection.send(LoadRequest(method: .GET, path: "", collectBody: true))
            if let error = result.error {
                throw LoadTestError(.unreachable, "metrics at \(url): \(error.rawValue) error")
            }
            guard result.status == 200 else {
                throw LoadTestError(.badResponse, "metrics at \(url) answered \(result.status)")
            }
            return String(decoding: result.body, as: UTF8.self)
        }
        guard let hits = PrometheusText.sum(hitsMetric, in: text),
            let misses = PrometheusText.sum(missesMetric, in: text)
        else {
            throw LoadTestError(.badResponse, "metrics at \(url) have no \(hitsMetric) / \(missesMetric)")
        }
        return CacheCounters(hits: hits, misses: misses)
    }

    /// Asks Redis for `INFO stats` and reads `keyspace_hits` / `keyspace_misses`.
    ///
    /// `url` is `redis://[:password@]host:port`; a password is sent with AUTH first.
    public static func redisKeyspace(_ text: String, on loop: EventLoop, timeout: Duration = .seconds(5))
        async throws -> CacheCounters
    {
        let url = try TargetURL(text, allowedSchemes: ["redis"])
        let password = redisPassword(text)
        let info = try await withTaskExecutorPreference(loop) { @concurrent () async throws -> String in
            let socket = try await Transports.plain(url, loop, timeout)
            defer { socket.close() }
            socket.readDeadline = monotonicNanoseconds() &+ timeout.nanoseconds
            var received: [UInt8] = []
            func reply() async throws -> RESPReply {
                // Scoped raw memory: a read suspends, and an array's storage cannot be lent across that.
                let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
                defer { chunk.deallocate() }
                while true {
                    if let (reply, used) = try RESPReply.parse(received[...]) {
                        received.removeFirst(used)
                        return reply
                    }
                    let count = try await socket.read(into: chunk)
                    if count == 0 { throw LoadTestError(.badResponse, "Redis at \(url) closed the connection") }
                    received += UnsafeRawBufferPointer(rebasing: chunk[..<count])
                }
            }
            if let password {
                try await socket.write(RESPReply.command(["AUTH", password]))
                if case .error(let message) = try await reply() {
                    throw LoadTestError(.badResponse, "Redis AUTH: \(message)")
                }
            }
            try await socket.write(RESPReply.command(["INFO", "stats"]))
            switch try await reply() {
            case .bulk(let bytes?): return String(decoding: bytes, as: UTF8.self)
            case .error(let message): throw LoadTestError(.badResponse, "Redis INFO: \(message)")
            default: throw LoadTestError(.badResponse, "Redis INFO: unexpected reply")
            }
        }
        let fields = RedisInfo.parse(info)
        guard let hits = fields["keyspace_hits"].flatMap(Double.init),
            let misses = fields["keyspace_misses"].flatMap(Double.init)
        else {
            throw LoadTestError(.badResponse, "Redis INFO stats has no keyspace_hits / keyspace_misses")
        }
        return CacheCounters(hits: hits, misses: misses)
    }

    /// The password of `redis://user:password@host` or `redis://:password@host`, if any.
    static func redisPassword(_ text: String) -> String? {
        guard let schemeEnd = text.firstRange(of: "://") else { return nil }
        let rest = text[schemeEnd.upperBound...]
        let authority = rest.prefix(while: { $0 != "/" })
        guard let at = authority.lastIndex(of: "@") else { return nil }
        let credentials = authority[..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return nil }
        let password = credentials[credentials.index(after: colon)...]
        return password.isEmpty ? nil : String(password)
    }
}
