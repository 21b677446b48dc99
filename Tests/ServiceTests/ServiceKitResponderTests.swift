import AuthToken
import HTTP
import Logging
import Reactor
import Synchronization
import Telemetry
import Testing

@testable import ServiceKit

/// One group for the ServiceKit suites (threads are scarce; never shut down mid-run).
enum ServiceKitTestLoops {
    static let group = try! EventLoopGroup(loopCount: 2)
}

@Suite(.timeLimit(.minutes(10))) struct ServiceKitResponderTests {
    let loop = ServiceKitTestLoops.group.loops[0]

    struct DatabaseDown: Error {}

    func makeResponder(
        logs: LogCapture = LogCapture(), checks: [HealthCheck] = [], authenticator: Authenticator? = nil
    ) -> (ServiceResponder, Metrics) {
        var router = ServiceRouter()
        let auth = authenticator ?? Authenticator(secret: "s3cret", required: true)
        router.post("/api/users") { request in
            var body = JSONFields(try await request.decodeJSONObject())
            let name = body.string("name", length: 1...100, trimming: true)
            let email = body.email("email")
            let password = body.string("password", length: 6...128, sensitive: true)
            let (n, e, _) = try body.finish(name, email, password)
            var json = JSONWriter()
            json.object {
                $0.field("id", 1)
                $0.field("name", n)
                $0.field("email", e)
            }
            return .json(.created, json.bytes)
        }
        router.get("/api/users/{id:int}") { request in
            let id = try request.parameters.int("id")
            try auth.authorizeSelf(request, userID: Int64(id))
            if id == 404 { throw ServiceError.notFound("User") }
            if id == 503 { throw DatabaseDown() }
            if id == 500 { throw CancellationError() }
            var response = HTTPServerResponse.json(.ok, Array(#"{"id":\#(id)}"#.utf8))
            response.headers.add(name: "X-Seen-Request-ID", value: request.headers["X-Request-ID"] ?? "")
            return response
        }
        router.post("/api/small") { request in
            _ = try await request.decodeJSONObject(maxBytes: 16)
            return .json(.ok, Array("{}".utf8))
        }
        router.get("/api/movies") { request in
            let page = try Pagination(request)
            var response = HTTPServerResponse.json(.ok, Array("[]".utf8))
            response.setTotalCount(page.limit)
            return response
        }
        router.post("/api/movies") { request in
            try await auth.authorizeAdmin(request)
            return .json(.created, Array("{}".utf8))
        }
        let metrics = Metrics(service: "test-service", loopCount: 2)
        let responder = ServiceResponder(
            service: "test-service", router: router,
            logger: Logger(service: "test-service", level: .info, sink: logs.sink), metrics: metrics,
            healthChecks: checks,
            errorMapper: { error in error is DatabaseDown ? ServiceError.serviceUnavailable("Database unavailable") : nil })
        return (responder, metrics)
    }

    func json(_ text: String) -> JSONValue? { try? JSONParser.parse(text) }

    @Test func createsAndValidatesThroughTheResponder() async {
        let (responder, _) = makeResponder()
        let ok = await responder.call(
            .POST, "/api/users", headers: ["Content-Type": "application/json; charset=utf-8"],
            body: Array(#"{"name":"Ada","email":"ada@example.com","password":"pass123"}"#.utf8), on: loop)
        #expect(ok.status == .created)
        #expect(ok.jsonBody == json(#"{"id":1,"name":"Ada","email":"ada@example.com"}"#))

        let form = await responder.call(
            .POST, "/api/users", headers: ["Content-Type": "application/x-www-form-urlencoded"],
            body: Array("name=Ada".utf8), on: loop)
        #expect(form.status == .unsupportedMediaType)
        #expect(form.jsonBody == json(#"{"detail":"Content-Type must be application/json"}"#))

        let malformed = await responder.call(.POST, "/api/users", body: Array("{\"name\":".utf8), on: loop)
        #expect(malformed.status == .badRequest)
        #expect(malformed.jsonBody?["detail"]?.stringValue?.hasPrefix("Malformed JSON") == true)

        let large = await responder.call(.POST, "/api/small", body: Array(#"{"a":"0123456789abcdef"}"#.utf8), on: loop)
        #expect(large.status == .payloadTooLarge)
        #expect(large.jsonBody?["detail"]?.stringValue != nil)

        let empty = await responder.call(.POST, "/api/users", headers: ["Content-Type": "application/json"], on: loop)
        #expect(empty.status == .unprocessableEntity)
        #expect(empty.jsonBody == json(#"{"detail":[{"type":"missing","loc":["body"],"msg":"Field required"}]}"#))

        let array = await responder.call(.POST, "/api/users", body: Array("[]".utf8), on: loop)
        #expect(array.status == .badRequest)

        let invalid = await responder.call(.POST, "/api/users", body: Array(#"{"email":"x"}"#.utf8), on: loop)
        #expect(invalid.status == .unprocessableEntity)
        #expect(invalid.headers["Content-Type"] == "application/json")
        #expect(invalid.jsonBody?["detail"]?.arrayValue?.count == 3)
    }

    @Test func requestIDsAreKeptOrMade() async {
        let (responder, _) = makeResponder()
        let kept = await responder.call(.GET, "/api/movies", headers: ["X-Request-ID": "abc-123_x.y"], on: loop)
        #expect(kept.headers["X-Request-ID"] == "abc-123_x.y")
        for insane in ["", "has space", String(repeating: "a", count: 129), "semi;colon", "é"] {
            let made = await responder.call(.GET, "/api/movies", headers: ["X-Request-ID": insane], on: loop)
            let id = made.headers["X-Request-ID"] ?? ""
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        }
        // Errors carry it too, and handlers see the chosen one.
        let missing = await responder.call(.GET, "/nowhere", headers: ["X-Request-ID": "r1"], on: loop)
        #expect(missing.status == .notFound)
        #expect(missing.headers["X-Request-ID"] == "r1")
        let seen = await responder.call(.GET, "/api/users/7", headers: ["X-Request-ID": "r2",
            "Authorization": "Bearer " + TokenSigner(secret: "s3cret").sign(userID: 7, email: "a@b.co", lifetime: 60)],
            on: loop)
        #expect(seen.headers["X-Seen-Request-ID"] == "r2")
        #expect(RequestID.generate() != RequestID.generate())
    }

    @Test func errorsMapToFastAPIBodies() async {
        let (responder, _) = makeResponder(authenticator: Authenticator(secret: "s3cret", required: false))
        let notFound = await responder.call(.GET, "/api/users/404", on: loop)
        #expect(notFound.status == .notFound)
        #expect(notFound.jsonBody == json(#"{"detail":"User not found"}"#))
        let down = await responder.call(.GET, "/api/users/503", on: loop)
        #expect(down.status == .serviceUnavailable)
        #expect(down.jsonBody == json(#"{"detail":"Database unavailable"}"#))
        let unknown = await responder.call(.GET, "/api/users/500", on: loop)
        #expect(unknown.status == .internalServerError)
        #expect(unknown.jsonBody == json(#"{"detail":"Internal Server Error"}"#))
        let badPath = await responder.call(.GET, "/api/users/abc", on: loop)
        #expect(badPath.status == .unprocessableEntity)
        #expect(badPath.jsonBody?["detail"]?.arrayValue?.first?["loc"] == json(#"["path","id"]"#))
        let method = await responder.call(.DELETE, "/api/movies", on: loop)
        #expect(method.status == .methodNotAllowed)
        #expect(method.headers["Allow"] == "GET, POST")
        let tooMany = ServiceError.tooManyRequests(retryAfter: 30).response
        #expect(tooMany.status == .tooManyRequests && tooMany.headers["Retry-After"] == "30")
        let limit = await responder.call(.GET, "/api/movies?limit=5000", on: loop)
        #expect(limit.status == .unprocessableEntity)
        let page = await responder.call(.GET, "/api/movies?limit=7", on: loop)
        #expect(page.headers["X-Total-Count"] == "7")
    }

    /// The HTTP layer's own answers, worded by ServiceKit: byte for byte what API.md's
    /// clients have always been sent (FastAPI's key order included).
    @Test func httpLayerErrorsAreWordedInFastAPIsShape() {
        func text(_ error: HTTPServerError) -> String {
            let response = FastAPIErrorRenderer().response(for: error)
            #expect(response.headers["Content-Type"] == "application/json")
            return String(decoding: response.bodyBytes, as: UTF8.self)
        }
        #expect(text(.notFound) == #"{"detail":"Not Found"}"#)
        #expect(text(HTTPServerError(.bodyTooLarge(limit: 1024))) == #"{"detail":"Request body too large (limit 1024 bytes)"}"#)
        #expect(text(HTTPServerError(.headerTimeout)) == #"{"detail":"Request header timeout"}"#)
        let notAnInteger = PathParameterIssue(name: "movie_id", input: "abc", kind: .notAnInteger)
        #expect(text(HTTPServerError(.invalidPathParameter(notAnInteger))) == #"{"detail":[{"loc":["path","movie_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","type":"int_parsing","input":"abc"}]}"#)
        let notPositive = PathParameterIssue(name: "user_id", input: "0", kind: .notPositive)
        #expect(text(HTTPServerError(.invalidPathParameter(notPositive))) == #"{"detail":[{"loc":["path","user_id"],"msg":"Input should be greater than 0","type":"greater_than","input":"0","ctx":{"gt":0}}]}"#)
        let missing = PathParameterIssue(name: "id", input: "", kind: .missing)
        #expect(text(HTTPServerError(.invalidPathParameter(missing))) == #"{"detail":[{"loc":["path","id"],"msg":"Field required","type":"missing"}]}"#)
        let notAllowed = FastAPIErrorRenderer().response(for: HTTPServerError(.methodNotAllowed(allowed: [.GET, .HEAD, .GET])))
        #expect(notAllowed.headers["Allow"] == "GET, HEAD")
        #expect(notAllowed.status == .methodNotAllowed)
    }

    @Test func authRulesFollowAPIMD() async {
        let signer = TokenSigner(secret: "s3cret")
        let user7 = "Bearer " + signer.sign(userID: 7, email: "ann@example.com", lifetime: 600)
        let boss = "Bearer " + signer.sign(userID: 9, email: "Boss@Example.com", role: "admin", lifetime: 600)
        let forged = "Bearer " + TokenSigner(secret: "wrong").sign(userID: 7, email: "ann@example.com", lifetime: 600)
        let expired = "Bearer " + signer.sign(userID: 7, email: "a@b.co", lifetime: 10, now: 1000)

        let (required, _) = makeResponder()
        func status(_ r: ServiceResponder, _ m: HTTPMethod, _ path: String, _ auth: String?) async -> Int {
            let headers: HTTPHeaders = auth.map { ["Authorization": $0] } ?? [:]
            return await r.call(m, path, headers: headers, body: m == .POST ? Array("{}".utf8) : [], on: loop).status.code
        }
        #expect(await status(required, .GET, "/api/users/7", nil) == 401)
        #expect(await status(required, .GET, "/api/users/7", user7) == 200)
        #expect(await status(required, .GET, "/api/users/8", user7) == 403)
        #expect(await status(required, .GET, "/api/users/7", forged) == 401)
        #expect(await status(required, .GET, "/api/users/7", expired) == 401)
        #expect(await status(required, .GET, "/api/users/7", "Basic abc") == 401)
        #expect(await status(required, .POST, "/api/movies", user7) == 403)
        #expect(await status(required, .POST, "/api/movies", boss) == 201)
        #expect(await status(required, .POST, "/api/movies", nil) == 401)
        let challenge = await required.call(.GET, "/api/users/7", on: loop)
        #expect(challenge.headers["WWW-Authenticate"] == "Bearer")

        let (open, _) = makeResponder(authenticator: Authenticator(secret: "s3cret", required: false))
        #expect(await status(open, .GET, "/api/users/7", nil) == 200)
        #expect(await status(open, .GET, "/api/users/8", user7) == 403)
        #expect(await status(open, .GET, "/api/users/7", forged) == 401)
        #expect(await status(open, .POST, "/api/movies", nil) == 201)
    }

    @Test func accessLogHasTheFieldsAndNoSecrets() async throws {
        let logs = LogCapture()
        let (responder, _) = makeResponder(logs: logs)
        let token = TokenSigner(secret: "s3cret").sign(userID: 7, email: "ann@example.com", lifetime: 600)
        _ = await responder.call(
            .POST, "/api/users?token=querysecret",
            headers: ["Authorization": "Bearer " + token, "X-Request-ID": "log-1", "Content-Type": "application/json"],
            body: Array(#"{"name":"Ann","email":"ann@example.com","password":"hunter2-secret"}"#.utf8), on: loop)
        _ = await responder.call(
            .POST, "/api/users", headers: ["X-Request-ID": "log-2"],
            body: Array(#"{"name":"Ann","email":"bad","password":"pw-hunter3"}"#.utf8), on: loop)
        let lines = logs.captured
        #expect(lines.count == 2)
        for line in lines {
            #expect(line.hasSuffix("\n") && line.dropLast().firstIndex(of: "\n") == nil)
            for secret in ["hunter2", "hunter3", token, "querysecret", "Bearer"] { #expect(!line.contains(secret)) }
        }
        let first = try JSONParser.parse(lines[0])
        #expect(first["service"] == .string("test-service"))
        #expect(first["level"] == .string("info"))
        #expect(first["request_id"] == .string("log-1"))
        #expect(first["method"] == .string("POST"))
        #expect(first["route"] == .string("/api/users"))
        #expect(first["path"] == .string("/api/users"))
        #expect(first["status"] == .int(201))
        #expect(first["duration_ms"]?.doubleValue != nil)
        #expect(first["client"] == .string("127.0.0.1:40000"))
        #expect(first["ts"]?.stringValue?.hasSuffix("Z") == true)
        #expect(try JSONParser.parse(lines[1])["status"] == .int(422))
    }

    @Test func metricsArePerRoutePatternInPrometheusFormat() async {
        let (responder, metrics) = makeResponder(authenticator: Authenticator(secret: "s3cret", required: false))
        for id in 1...3 { _ = await responder.call(.GET, "/api/users/\(id)", on: loop) }
        _ = await responder.call(.GET, "/api/users/404", on: ServiceKitTestLoops.group.loops[1])
        _ = await responder.call(.GET, "/does/not/exist", on: loop)
        let hits = metrics.counter("marquee_cache_hits_total", help: "Cache hits.", labels: ["service": "test-service"])
        hits.increment()
        hits.increment(by: 2)
        metrics.gauge("marquee_db_pool_connections", help: "Open connections.", labels: ["state": "idle \"x\"\n"]) { 4 }
        let relayed = Atomic<Int>(5)
        metrics.counter("marquee_relayed_total", help: "A total kept elsewhere.") {
            Double(relayed.load(ordering: .relaxed))
        }
        let timer = metrics.timer("marquee_cache_latency_seconds", help: "Latency.", buckets: [0.001, 0.01])
        timer.recordNanoseconds(500_000)
        timer.recordNanoseconds(5_000_000)
        timer.recordSeconds(1)

        let response = await responder.call(.GET, "/metrics", on: loop)
        #expect(response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8")
        let text = String(decoding: response.bodyBytes, as: UTF8.self)
        let expected = [
            "# HELP marquee_http_requests_total HTTP requests served, by route pattern and status.",
            "# TYPE marquee_http_requests_total counter",
            #"marquee_http_requests_total{service="test-service",method="GET",route="/api/users/{id:int}",status="200"} 3"#,
            #"marquee_http_requests_total{service="test-service",method="GET",route="/api/users/{id:int}",status="404"} 1"#,
            #"marquee_http_requests_total{service="test-service",method="GET",route="unmatched",status="404"} 1"#,
            "# TYPE marquee_http_request_duration_seconds histogram",
            #"marquee_http_request_duration_seconds_bucket{service="test-service",method="GET",route="/api/users/{id:int}",le="+Inf"} 4"#,
            #"marquee_http_request_duration_seconds_count{service="test-service",method="GET",route="/api/users/{id:int}"} 4"#,
            #"marquee_cache_hits_total{service="test-service"} 3"#,
            "# TYPE marquee_db_pool_connections gauge",
            #"marquee_db_pool_connections{state="idle \"x\"\n"} 4.0"#,
            "# TYPE marquee_relayed_total counter",
            "marquee_relayed_total 5",
            #"marquee_cache_latency_seconds_bucket{le="0.001"} 1"#,
            #"marquee_cache_latency_seconds_bucket{le="0.01"} 2"#,
            #"marquee_cache_latency_seconds_bucket{le="+Inf"} 3"#,
            "marquee_cache_latency_seconds_sum 1.0055",
            "marquee_cache_latency_seconds_count 3",
        ]
        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in expected { #expect(lines.contains(line), "missing: \(line)") }
        #expect(text.hasSuffix("\n"))
        // Buckets are cumulative and end with +Inf.
        let buckets = text.split(separator: "\n").filter {
            $0.hasPrefix(#"marquee_http_request_duration_seconds_bucket{service="test-service",method="GET",route="/api/users/{id:int}""#)
        }
        #expect(buckets.count == Metrics.latencyBuckets.count + 1)
        let counts = buckets.compactMap { Double($0.split(separator: " ").last ?? "") }
        #expect(counts == counts.sorted())

        // A total read at scrape time only grows by what it gained since the last scrape.
        relayed.store(7, ordering: .relaxed)
        let again = String(decoding: await responder.call(.GET, "/metrics", on: loop).bodyBytes, as: UTF8.self)
        #expect(again.split(separator: "\n").contains("marquee_relayed_total 7"))
    }

    /// Found by schemathesis through the gateway: `PUT /api/health/users` was a 404.
    @Test func healthAndMetricsAnswerOtherMethodsWith405() async {
        let responder = makeResponder(checks: [HealthCheck(name: "database") { true }]).0
        for path in ["/health", "/health/", "/metrics"] {
            for method in [HTTPMethod.POST, .PUT, .DELETE, .PATCH, .OPTIONS] {
                let response = await responder.call(method, path, on: loop)
                #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                #expect(response.headers["Allow"] == "GET, HEAD")
                #expect(response.headers["X-Request-ID"] != nil)
            }
        }
    }

    @Test func healthIsConcurrentBoundedAndHonoursOptionalChecks() async {
        let ran = Atomic<Int>(0)
        let healthy = makeResponder(checks: [
            HealthCheck(name: "database") { ran.add(1, ordering: .relaxed); return true },
            HealthCheck(name: "cache", required: false) { false },
        ]).0
        let ok = await healthy.call(.GET, "/health", on: loop)
        #expect(ok.status == .ok)
        #expect(ok.jsonBody == json(#"{"status":"healthy","service":"test-service","checks":{"database":"ok","cache":"down"}}"#))
        #expect(ran.load(ordering: .relaxed) == 1)

        let start = ContinuousClock.now
        let hanging = makeResponder(checks: [
            HealthCheck(name: "database", timeout: .milliseconds(200)) {
                // Ignores cancellation on purpose: the answer must not wait for it.
                let until = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < until { try? await Task.sleep(for: .milliseconds(50)) }
                return true
            },
            HealthCheck(name: "cache", timeout: .milliseconds(200)) {
                try? await Task.sleep(for: .milliseconds(150))
                return true
            },
        ]).0
        let down = await hanging.call(.GET, "/health", on: loop)
        let elapsed = ContinuousClock.now - start
        #expect(down.status == .serviceUnavailable)
        #expect(down.jsonBody == json(#"{"status":"unhealthy","service":"test-service","checks":{"database":"down","cache":"ok"}}"#))
        // "down" is the cause (the check's 200 ms timeout fired; waited out, it says "ok"); the
        // bound, half the 30 s the check ignores cancellation for, shows the answer did not wait.
        #expect(elapsed < .seconds(15), "took \(elapsed): the answer waited for a timed-out check")
    }

    @Test func passwordHashingRunsOffTheLoops() async throws {
        let hashing = PasswordHashing(hasher: PasswordHasher(parameters: .init(n: 1 << 10, r: 8, p: 1)))
        let onLoop = try await withTaskExecutorPreference(loop) { @concurrent () async throws -> (Bool, Bool, Bool) in
            let before = EventLoop.current != nil
            let offLoop = try await hashing.pool.run { EventLoop.current == nil }
            let stored = try await hashing.hash("pass123")
            let ok = try await hashing.verify("pass123", against: stored, client: nil)
            return (before, offLoop, ok)
        }
        #expect(onLoop == (true, true, true))
        #expect(try await hashing.verify("wrong", against: "garbage", client: "192.0.2.1") == false)
        #expect(try await hashing.verifyDummy("x", client: nil) == false)
    }
}
