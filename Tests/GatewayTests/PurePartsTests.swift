import HTTP
import Logging
import Telemetry
import Testing

@testable import Gateway

@Suite(.timeLimit(.minutes(5))) struct RequestIDTests {
    @Test func validation() {
        #expect(RequestID.isValid("abc-123_X.y"))
        #expect(RequestID.isValid(String(repeating: "a", count: 128)))
        #expect(!RequestID.isValid(String(repeating: "a", count: 129)))
        #expect(!RequestID.isValid(""))
        #expect(!RequestID.isValid("a b"))
        #expect(!RequestID.isValid("a\"b"))
        #expect(!RequestID.isValid("é"))
    }

    @Test func generatedIDsAreValidAndUnique() {
        let generator = RequestIDGenerator(seed: 0xDEAD_BEEF)
        let first = generator.next()
        let second = generator.next()
        #expect(first == "00000000deadbeef0000000000000001")
        #expect(second == "00000000deadbeef0000000000000002")
        #expect(RequestID.isValid(first))
        let wide = RequestIDGenerator(seed: 0x0123_4567_89AB_CDEF)
        #expect(wide.next() == "0123456789abcdef0000000000000001")
        #expect(RequestIDGenerator(seed: .max).next() == "ffffffffffffffff0000000000000001")
    }

    /// A new id kept as its halves reads, writes into a header and compares as its text; a
    /// client's id is kept as it came.
    @Test func anIDIsTheSameWhereverItIsWritten() {
        let generator = RequestIDGenerator(seed: 0x0123_4567_89AB_CDEF)
        for id in [generator.nextID(), GatewayRequestID("client-id_1.x")] {
            let text = id.description
            #expect(id.withBytes { String(decoding: $0, as: UTF8.self) } == text)
            var headers: HTTPHeaders = ["Host": "h"]
            headers.appendFields { id.add(to: &$0) }
            #expect(headers[.xRequestID] == text)
            #expect(GatewayRequestID(text).withBytes { Array($0) } == Array(text.utf8))
        }
        #expect(generator.nextID().description == "0123456789abcdef0000000000000002")
        #expect(GatewayRequestID("abc") == "abc")
    }
}

@Suite(.timeLimit(.minutes(5))) struct TokenBucketTests {
    @Test func burstThenRate() {
        var limiter = RateLimiter(rate: 2, burst: 3)
        let second: UInt64 = 1_000_000_000
        let v1 = limiter.admit("a", now: 0)
        #expect(v1 == nil)
        let v2 = limiter.admit("a", now: 0)
        #expect(v2 == nil)
        let v3 = limiter.admit("a", now: 0)
        #expect(v3 == nil)
        let v4 = limiter.admit("a", now: 0)
        #expect(v4 == 1)  // empty: retry after 0.5 s, rounded up
        let v5 = limiter.admit("b", now: 0)
        #expect(v5 == nil)  // another client has its own bucket
        let v6 = limiter.admit("a", now: second / 2)
        #expect(v6 == nil)  // one token back after 0.5 s
        let v7 = limiter.admit("a", now: second / 2)
        #expect(v7 != nil)
        let v8 = limiter.admit("a", now: 10 * second)
        #expect(v8 == nil)
    }

    @Test func retryAfterCoversTheWait() {
        var limiter = RateLimiter(rate: 0.1, burst: 1)
        let v9 = limiter.admit("a", now: 0)
        #expect(v9 == nil)
        let v10 = limiter.admit("a", now: 0)
        #expect(v10 == 10)
    }

    @Test func disabledLimiterAdmitsEverything() {
        var limiter = RateLimiter(rate: 0, burst: 0)
        for _ in 0..<1000 { #expect(limiter.admit("a", now: 0) == nil) }
        #expect(limiter.clientCount == 0)
    }

    @Test func memoryIsBounded() {
        var limiter = RateLimiter(rate: 1, burst: 1, maxClients: 100)
        for index in 0..<1000 { _ = limiter.admit("client\(index)", now: UInt64(index)) }
        #expect(limiter.clientCount <= 100)
    }
}

@Suite(.timeLimit(.minutes(5))) struct CIDRTests {
    @Test func ipv4Blocks() throws {
        let block = try #require(CIDR("10.0.0.0/8"))
        #expect(block.contains("10.1.2.3"))
        #expect(!block.contains("11.0.0.1"))
        #expect(block.contains("::ffff:10.9.9.9"))
        let single = try #require(CIDR("192.168.1.5"))
        #expect(single.contains("192.168.1.5"))
        #expect(!single.contains("192.168.1.6"))
        #expect(try #require(CIDR("172.16.0.0/12")).contains("172.31.255.255"))
        #expect(!(try #require(CIDR("172.16.0.0/12")).contains("172.32.0.0")))
        #expect(try #require(CIDR("0.0.0.0/0")).contains("8.8.8.8"))
    }

    @Test func ipv6Blocks() throws {
        let block = try #require(CIDR("fd00::/8"))
        #expect(block.contains("fd12::1"))
        #expect(!block.contains("fe80::1"))
        #expect(try #require(CIDR("::1/128")).contains("::1"))
        #expect(!(try #require(CIDR("::1")).contains("127.0.0.1")))
    }

    @Test func lists() throws {
        let list = try CIDR.parseList("127.0.0.1/32, 10.0.0.0/8 ::1", setting: "TRUSTED_PROXIES")
        #expect(list.count == 3)
        #expect(CIDR.anyContains(list, "10.2.3.4"))
        #expect(!CIDR.anyContains(list, "192.168.0.1"))
        #expect(!CIDR.anyContains([], "10.2.3.4"))
        #expect(throws: GatewayError.self) { try CIDR.parseList("10.0.0.0/33", setting: "TRUSTED_PROXIES") }
        #expect(throws: GatewayError.self) { try CIDR.parseList("not-an-ip", setting: "TRUSTED_PROXIES") }
    }
}

@Suite(.timeLimit(.minutes(5))) struct UpstreamBalancerTests {
    @Test func roundRobinSkipsEjected() {
        var balancer = UpstreamBalancer(count: 3, policy: .roundRobin, ejectAfter: 2, ejectionTime: .seconds(10))
        var picks: [Int] = []
        for _ in 0..<6 {
            let index = balancer.select(now: 0)
            picks.append(index)
            balancer.finished(index)
        }
        #expect(picks == [0, 1, 2, 0, 1, 2])
        let v11 = balancer.failed(1, now: 0)
        #expect(!v11)
        let v12 = balancer.failed(1, now: 0)
        #expect(v12)  // second consecutive failure ejects
        picks = []
        for _ in 0..<4 {
            let index = balancer.select(now: 1)
            picks.append(index)
            balancer.finished(index)
        }
        #expect(!picks.contains(1))
    }

    @Test func successResetsFailures() {
        var balancer = UpstreamBalancer(count: 2, policy: .roundRobin, ejectAfter: 2, ejectionTime: .seconds(10))
        balancer.failed(0, now: 0)
        balancer.succeeded(0)
        let v13 = balancer.failed(0, now: 0)
        #expect(!v13)
        #expect(balancer.isAdmitted(0, now: 0))
    }

    @Test func probeReadmitsAndEjectionExpiresOnTrial() {
        let second: UInt64 = 1_000_000_000
        var balancer = UpstreamBalancer(count: 2, policy: .roundRobin, ejectAfter: 1, ejectionTime: .seconds(10))
        let v14 = balancer.failed(0, now: 0)
        #expect(v14)
        #expect(!balancer.isAdmitted(0, now: 5 * second))
        let v15 = balancer.probed(0, healthy: true, now: 5 * second)
        #expect(v15)
        #expect(balancer.isAdmitted(0, now: 5 * second))
        // Eject again, let it expire: on trial; one failure ejects for twice as long? No: the
        // success above reset the streak, so 10 s again; a failure on trial doubles it.
        let v16 = balancer.failed(0, now: 6 * second)
        #expect(v16)
        #expect(balancer.isAdmitted(0, now: 16 * second))
        let v17 = balancer.failed(0, now: 16 * second)
        #expect(v17)
        #expect(!balancer.isAdmitted(0, now: 35 * second))
        #expect(balancer.isAdmitted(0, now: 36 * second))
    }

    @Test func panicRoutingWhenAllAreOut() {
        var balancer = UpstreamBalancer(count: 2, policy: .roundRobin, ejectAfter: 1, ejectionTime: .seconds(10))
        balancer.failed(0, now: 0)
        balancer.failed(1, now: 0)
        let index = balancer.select(now: 1)
        #expect(index == 0 || index == 1)
        let single = UpstreamBalancer(count: 1, policy: .roundRobin, ejectAfter: 1, ejectionTime: .seconds(10))
        var copy = single
        copy.failed(0, now: 0)
        let v18 = copy.select(now: 1, excluding: 0)
        #expect(v18 == 0)
    }

    @Test func retryExcludesTheInstanceJustTried() {
        var balancer = UpstreamBalancer(count: 2, policy: .roundRobin, ejectAfter: 5, ejectionTime: .seconds(10))
        for _ in 0..<5 {
            let first = balancer.select(now: 0)
            let second = balancer.select(now: 0, excluding: first)
            #expect(first != second)
            balancer.finished(first)
            balancer.finished(second)
        }
    }

    @Test func leastLoadedPicksTheIdlest() {
        var balancer = UpstreamBalancer(count: 3, policy: .leastLoaded, ejectAfter: 2, ejectionTime: .seconds(1))
        let a = balancer.select(now: 0)
        let b = balancer.select(now: 0)
        let c = balancer.select(now: 0)
        #expect(Set([a, b, c]) == [0, 1, 2])
        balancer.finished(b)
        let v19 = balancer.select(now: 0)
        #expect(v19 == b)
    }
}

@Suite(.timeLimit(.minutes(5))) struct AccessLogTests {
    static let trace = TraceContext(
        traceIDHigh: 0x4bf9_2f35_77b3_4da6, traceIDLow: 0xa3ce_929d_0e0e_4736, spanID: 0x00f0_67aa_0ba9_02b7, flags: 1)

    /// The line as ``JSONLogHandler`` writes it, `ts` aside.
    static func line(_ record: AccessLogRecord) -> String {
        let capture = LogCapture()
        AccessLog(logger: Logger(service: "gateway", sink: capture.sink), isEnabled: true).write(record)
        let line = capture.captured.first ?? ""
        // `{"ts":"2026-11-25T16:22:47.123Z",…`: the timestamp is the clock's.
        return line.replacing(/"ts":"[0-9T:.\-]+Z"/, with: #""ts":"T""#)
    }

    @Test func lineFormat() {
        let record = AccessLogRecord(
            requestID: "abc", trace: Self.trace, client: "127.0.0.1", method: .GET, path: "/api/movies/1",
            version: .http1_1, status: 200, bytes: 187, upstream: "127.0.0.1:8002", upstreamTime: 0.0012345,
            totalTime: 0.002)
        #expect(
            Self.line(record)
                == #"{"ts":"T","level":"info","service":"gateway","msg":"request","request_id":"abc","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","client":"127.0.0.1","method":"GET","path":"/api/movies/1","protocol":"HTTP/1.1","status":200,"bytes":187,"upstream":"127.0.0.1:8002","upstream_time":0.001235,"total_time":0.002000}"#
                + "\n")
    }

    @Test func gatewayAnswersHaveNullUpstreamAndEscapedPaths() {
        let record = AccessLogRecord(
            requestID: "r", trace: Self.trace, client: "::1", method: .GET, path: "/a\"b",
            version: HTTPVersion(major: 2, minor: 0), status: 404, bytes: 0, upstream: nil, upstreamTime: nil,
            totalTime: 1.5)
        let line = Self.line(record)
        #expect(line.contains(#""path":"/a\"b","protocol":"HTTP/2.0""#))
        #expect(line.contains(#""upstream":null,"upstream_time":null,"total_time":1.500000}"#))
    }

    @Test func offWritesNothing() {
        let capture = LogCapture()
        AccessLog(logger: Logger(service: "gateway", sink: capture.sink), isEnabled: false).write(
            AccessLogRecord(
                requestID: "r", trace: Self.trace, client: "::1", method: .GET, path: "/", version: .http1_1,
                status: 200, bytes: 0, upstream: nil, upstreamTime: nil, totalTime: 0))
        #expect(capture.captured.isEmpty)
    }
}
