@testable import LoadTestKit
import Testing

@Suite struct ParsingTests {
    @Test func prometheusSumsOverLabels() {
        let text = """
            # HELP marquee_cache_hits_total Cache hits.
            # TYPE marquee_cache_hits_total counter
            marquee_cache_hits_total{op="get",note="a } b"} 120
            marquee_cache_hits_total{op="mget"} 30 1700000000000
            marquee_cache_hits_total_created 1.7e9
            marquee_cache_misses_total 5
            """
        #expect(PrometheusText.sum("marquee_cache_hits_total", in: text) == 150)
        #expect(PrometheusText.sum("marquee_cache_misses_total", in: text) == 5)
        #expect(PrometheusText.sum("absent_total", in: text) == nil)
    }

    @Test func respBulkReplyAndInfoFields() throws {
        let payload = "# Stats\r\nkeyspace_hits:990\r\nkeyspace_misses:10\r\n"
        let wire = Array("$\(payload.utf8.count)\r\n\(payload)\r\n".utf8)
        #expect(try RESPReply.parse(wire.dropLast(3)) == nil)  // incomplete
        let (reply, used) = try #require(try RESPReply.parse(wire[...]))
        #expect(used == wire.count)
        guard case .bulk(let bytes?) = reply else {
            Issue.record("not a bulk reply")
            return
        }
        let fields = RedisInfo.parse(String(decoding: bytes, as: UTF8.self))
        #expect(fields["keyspace_hits"] == "990" && fields["keyspace_misses"] == "10")
        #expect(try RESPReply.parse(Array("-NOAUTH Authentication required.\r\n".utf8)[...])?.0 == .error("NOAUTH Authentication required."))
        #expect(RESPReply.command(["INFO", "stats"]) == Array("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n".utf8))
        #expect(CacheCounterProbe.redisPassword("redis://:secret@127.0.0.1:6379") == "secret")
        #expect(CacheCounterProbe.redisPassword("redis://127.0.0.1:6379") == nil)
    }

    @Test func targetURLs() throws {
        let url = try TargetURL("http://127.0.0.1:8080/prefix/")
        #expect(url.host == "127.0.0.1" && url.port == 8080 && url.basePath == "/prefix" && !url.isTLS)
        #expect(url.hostHeader == "127.0.0.1:8080")
        let tls = try TargetURL("https://localhost")
        #expect(tls.port == 443 && tls.isTLS && tls.hostHeader == "localhost")
        #expect(try TargetURL("http://[::1]:9000").host == "::1")
        #expect(throws: LoadTestError.self) { try TargetURL("ftp://x") }
        #expect(throws: LoadTestError.self) { try TargetURL("127.0.0.1:8080") }
        #expect(throws: LoadTestError.self) { try Transports.forURL(tls, tls: nil) }
    }

    @Test func mixAndDurations() throws {
        let mix = try Mix(parsing: "reads=80,batch=10,watchlist=5,writes=5")
        #expect(mix == .default)
        #expect(throws: LoadTestError.self) { try Mix(parsing: "reads=80,shopping=5") }
        #expect(throws: LoadTestError.self) { try Mix(parsing: "reads=0") }
        #expect(try DurationText.parse("20s") == .seconds(20))
        #expect(try DurationText.parse("500ms") == .milliseconds(500))
        #expect(try DurationText.parse("1m30s") == .seconds(90))
        #expect(try DurationText.parse("2") == .seconds(2))
        #expect(throws: LoadTestError.self) { try DurationText.parse("soon") }
    }

    @Test func mixedGeneratorFollowsTheWeights() {
        let spec = WorkloadSpec(scenario: .mixed, mix: try! Mix(parsing: "reads=70,batch=10,watchlist=10,writes=10"), movies: 100)
        var generator = RequestGenerator(spec: spec, zipf: ZipfSampler(count: 100, exponent: 1), seed: 3, user: 0)
        var counts: [Endpoint: Int] = [:]
        for _ in 0..<20_000 { counts[generator.next().endpoint, default: 0] += 1 }
        let reads = Double(counts[.movieByID] ?? 0) / 20_000
        #expect(abs(reads - 0.7) < 0.02)
        let writes = Double((counts[.watchlistAdd] ?? 0) + (counts[.watchlistRemove] ?? 0) + (counts[.movieCreate] ?? 0)) / 20_000
        #expect(abs(writes - 0.1) < 0.015)
        let batch = generator.next()
        #expect(batch.path.hasPrefix("/api/"))
    }
}
