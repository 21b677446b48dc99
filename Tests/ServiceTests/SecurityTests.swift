import AuthToken
import Gateway
import HTTP
import Logging
import MarqueeTesting
import Postgres
import Reactor
import Redis
import ServiceKit
import Synchronization
import Telemetry
import Testing
import UserService

/// Issue 18's probes, through the gateway with `AUTH_REQUIRED=true` on the real services
/// (``SecurityStack``): each test is one row of "What was found" or "Found by reading",
/// and docs/SECURITY.md names it beside the control it proves.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SecurityTests {
    static let movie = #"{"title":"Locked","year":2000,"genre":"Drama"}"#

    // MARK: The admin model

    @Test func adminRightsNeverComeFromAnAddressAUserTyped() async throws {
        let stack = try await SecurityStack.start(name: "sec_typed")
        defer { Task { await stack.stop() } }
        try await stack.signUp("admin@example.com")
        let token = try await stack.login("admin@example.com")
        #expect(try await stack.send(.POST, "/api/movies", json: Self.movie, token: token).status == 403)
        #expect(try await stack.send(.GET, "/api/users", token: token).status == 403)

        // Changing one's email to any address changes nothing either.
        let bob = try await stack.signUp("bob@example.com")
        let bobToken = try await stack.login("bob@example.com")
        let moved = try await stack.send(
            .PATCH, "/api/users/\(bob)", json: #"{"email":"root@example.com","current_password":"secret123"}"#,
            token: bobToken)
        #expect(moved.status == 200, "\(moved.text)")
        let again = try await stack.login("root@example.com")
        #expect(try await stack.send(.POST, "/api/movies", json: Self.movie, token: again).status == 403)

        // Only the operator's command grants it; the token issued before the grant is revoked.
        #expect(try await stack.admin(.grant("admin@example.com")) == 0)
        #expect(try await stack.send(.GET, "/api/auth/me", token: token).status == 401)
        let admin = try await stack.login("admin@example.com")
        let me = try await stack.send(.GET, "/api/auth/me", token: admin)
        #expect(me.json?["role"]?.stringValue == "admin")
        #expect(try await stack.send(.POST, "/api/movies", json: Self.movie, token: admin).status == 201)
        #expect(try await stack.send(.GET, "/api/users", token: admin).status == 200)
        #expect(try await stack.admin(.grant("nobody@example.com")) == 1)
    }

    @Test func aRevokedAdminsOldTokenGrantsNothing() async throws {
        let stack = try await SecurityStack.start(name: "sec_revoke")
        defer { Task { await stack.stop() } }
        try await stack.signUp("ops@example.com")
        #expect(try await stack.admin(.grant("ops@example.com")) == 0)
        let stale = try await stack.login("ops@example.com")
        #expect(try await stack.send(.POST, "/api/movies", json: Self.movie, token: stale).status == 201)
        #expect(try await stack.send(.GET, "/api/watchlist/movie/1", token: stale).status == 200)

        #expect(try await stack.admin(.revoke("ops@example.com")) == 0)
        // The token still says "admin" and is correctly signed, but its version is old:
        // the movie service confirms with the user service and refuses it.
        #expect(try await stack.send(.POST, "/api/movies", json: Self.movie, token: stale).status == 401)
        #expect(try await stack.send(.GET, "/api/watchlist/movie/1", token: stale).status == 401)
        #expect(try await stack.send(.GET, "/api/users", token: stale).status == 401)
        let fresh = try await stack.login("ops@example.com")
        #expect(try await stack.send(.POST, "/api/movies", json: Self.movie, token: fresh).status == 403)

        // A token forged with the right secret but a bumped-up claim is still confirmed.
        let id = try await stack.send(.GET, "/api/auth/me", token: fresh).json?["id"]?.intValue ?? 0
        let version = Int64(try stack.usersSQL("SELECT token_version FROM users WHERE id = \(id)")) ?? 0
        let forged = TokenSigner(secret: SecurityStack.secret).sign(
            userID: id, email: "ops@example.com", role: "admin", version: version, lifetime: 600)
        #expect(try await stack.send(.POST, "/api/movies", json: Self.movie, token: forged).status == 403)
    }

    @Test func theBootstrapCreatesTheFirstAdminOnlyAndNeverPromotes() async throws {
        let stack = try await SecurityStack.start(
            name: "sec_boot",
            userEnvironment: ["ADMIN_BOOTSTRAP_EMAIL": "Root@Example.com", "ADMIN_BOOTSTRAP_PASSWORD": "long-enough-pass"])
        let token = try await stack.login("root@example.com", password: "long-enough-pass")
        #expect(try await stack.send(.POST, "/api/movies", json: Self.movie, token: token).status == 201)
        #expect(try stack.usersSQL("SELECT count(*) FROM users WHERE role = 'admin'") == "1")
        await stack.stop()

        // An address someone signed up with first is not promoted (they chose its password).
        let taken = try await SecurityStack.start(name: "sec_boot2")
        try await taken.signUp("root@example.com", password: "attacker-pw")
        await taken.stop()
        let url = try TestServers.postgres().url(database: "sec_boot2_users")
        var configuration = UserService.Configuration(
            databaseURL: url, authSecret: SecurityStack.secret,
            adminBootstrap: try AdminBootstrap(email: "root@example.com", password: "long-enough-pass"))
        configuration.hasher = UserServiceTestSupport.cheapHasher
        let logs = LogCapture()
        let service = try await UserService.start(
            configuration: configuration, group: try EventLoopGroupHolder.shared(),
            logger: Logger(service: "user-service", sink: logs.sink))
        await service.shutdown()
        #expect(try TestServers.postgres().psql("SELECT count(*) FROM users WHERE role = 'admin'", database: "sec_boot2_users") == "0")
        #expect(logs.captured.contains { $0.contains("not promoted") })

        #expect(throws: UserServiceError.self) { try AdminBootstrap(email: "root@example.com", password: "short") }
        #expect(throws: UserServiceError.self) { try AdminBootstrap(email: "not-an-address", password: "long-enough-pass") }
    }

    @Test func adminEmailsAndExampleSecretsRefuseToStart() throws {
        let refusal = try #require(ServiceRunner.refusedEnvironment(["ADMIN_EMAILS": "admin@example.com"]))
        #expect(refusal.contains("user-service admin grant"))
        #expect(ServiceRunner.refusedEnvironment(["ADMIN_EMAILS": ""]) == nil)
        #expect(ServiceRunner.refusedEnvironment([:]) == nil)

        #expect(AuthSecretPolicy.problem(with: "short-secret") != nil)
        #expect(AuthSecretPolicy.problem(with: String(repeating: "x", count: 31)) != nil)
        #expect(AuthSecretPolicy.problem(with: SecurityStack.secret) == nil)
        // Every AUTH_SECRET shipped in the repository's examples is refused.
        let shipped = try Self.shippedSecrets()
        #expect(shipped.count >= 6, "\(shipped)")
        for secret in shipped { #expect(AuthSecretPolicy.problem(with: secret) != nil, "\(secret)") }
    }

    /// The `AUTH_SECRET` values in deploy/env.example, deploy/systemd/*.env.example and
    /// deploy/k8s/*.yaml.
    static func shippedSecrets() throws -> [String] {
        let root = String(#filePath.prefix(upTo: #filePath.range(of: "/Tests/")!.lowerBound))
        let files = [
            "deploy/env.example", "deploy/systemd/gateway.env.example", "deploy/systemd/user-service.env.example",
            "deploy/systemd/movie-service.env.example", "deploy/systemd/watchlist-service.env.example",
            "deploy/k8s/secret.example.yaml",
        ]
        var secrets: [String] = []
        for file in files {
            let text = try #require(GatewayConfiguration.readTextFile(root + "/" + file), "\(file)")
            for line in text.split(separator: "\n") {
                let trimmed = line.trimmingPrefix(while: { $0 == " " })
                guard trimmed.hasPrefix("AUTH_SECRET=") || trimmed.hasPrefix("AUTH_SECRET:") else { continue }
                var value = String(trimmed.dropFirst("AUTH_SECRET=".count)).trimmingPrefix(while: { $0 == " " })
                value = Substring(value.filter { $0 != "\"" })
                if !value.isEmpty { secrets.append(String(value)) }
            }
        }
        return secrets
    }

    @Test func credentialsNeverShowInInterpolatedConfigurations() throws {
        let redis = try RedisConfiguration(url: "redis://:redis-secret-pw@cache:6380/2")
        let postgres = try PostgresConfiguration(url: "postgresql://user:pg-secret-pw@db:5432/userdb")
        for text in ["\(redis)", String(reflecting: redis), "\(postgres)", String(reflecting: postgres)] {
            #expect(!text.contains("secret-pw"), "\(text)")
        }
        #expect("\(redis)" == "redis://***@cache:6380/2")
        #expect("\(postgres)" == "postgresql://user:***@db:5432/userdb")
    }

    // MARK: Tokens and credentials

    @Test func aPasswordChangeNeedsTheCurrentPasswordAndRevokesEarlierTokens() async throws {
        let stack = try await SecurityStack.start(name: "sec_password")
        defer { Task { await stack.stop() } }
        let id = try await stack.signUp("pat@example.com")
        let old = try await stack.login("pat@example.com")
        let second = try await stack.login("pat@example.com")

        let tokenOnly = try await stack.send(.PATCH, "/api/users/\(id)", json: #"{"password":"new-secret-1"}"#, token: old)
        #expect(tokenOnly.status == 422)
        #expect(tokenOnly.issueLocations == ["body.current_password"])
        let emailOnly = try await stack.send(.PUT, "/api/users/\(id)", json: #"{"email":"x@example.com"}"#, token: old)
        #expect(emailOnly.status == 422)
        let wrong = try await stack.send(
            .PATCH, "/api/users/\(id)", json: #"{"password":"new-secret-1","current_password":"guess"}"#, token: old)
        #expect(wrong.status == 403)
        #expect(try await stack.send(.GET, "/api/auth/me", token: old).status == 200, "a refused change revokes nothing")

        let changed = try await stack.send(
            .PATCH, "/api/users/\(id)", json: #"{"password":"new-secret-1","current_password":"secret123"}"#, token: old)
        #expect(changed.status == 200)
        // Every token issued before the change is refused, for /me and for the user's own record.
        for token in [old, second] {
            #expect(try await stack.send(.GET, "/api/auth/me", token: token).status == 401)
            #expect(try await stack.send(.GET, "/api/users/\(id)", token: token).status == 401)
            #expect(try await stack.send(.DELETE, "/api/users/\(id)", token: token).status == 401)
        }
        // A name change needs no password and revokes nothing.
        let fresh = try await stack.login("pat@example.com", password: "new-secret-1")
        #expect(try await stack.send(.PATCH, "/api/users/\(id)", json: #"{"name":"Pat"}"#, token: fresh).status == 200)
        #expect(try await stack.send(.GET, "/api/auth/me", token: fresh).status == 200)

        // A deletion revokes the tokens too.
        #expect(try await stack.send(.DELETE, "/api/users/\(id)", token: fresh).status == 204)
        #expect(try await stack.send(.GET, "/api/auth/me", token: fresh).status == 401)
    }

    @Test func wrongCurrentPasswordsAreThrottledLikeLogins() async throws {
        let stack = try await SecurityStack.start(name: "sec_guess")
        defer { Task { await stack.stop() } }
        let id = try await stack.signUp("guess@example.com")
        let token = try await stack.login("guess@example.com")
        var statuses: [Int] = []
        for attempt in 0..<7 {
            let reply = try await stack.send(
                .PATCH, "/api/users/\(id)", json: #"{"password":"new-secret-1","current_password":"wrong-\#(attempt)"}"#,
                token: token)
            statuses.append(reply.status)
        }
        #expect(statuses.prefix(5).allSatisfy { $0 == 403 }, "\(statuses)")
        #expect(statuses.last == 429, "\(statuses)")
    }

    // MARK: Input

    @Test func nulCharactersAre422NamingTheField() async throws {
        let stack = try await SecurityStack.start(name: "sec_nul")
        defer { Task { await stack.stop() } }
        try await stack.signUp("root@example.com")
        #expect(try await stack.admin(.grant("root@example.com")) == 0)
        let admin = try await stack.login("root@example.com")

        let name = try await stack.send(
            .POST, "/api/users", json: #"{"name":"A\u0000B","email":"n@example.com","password":"secret123"}"#)
        #expect(name.status == 422)
        #expect(name.issueLocations == ["body.name"])
        let login = try await stack.send(.POST, "/api/auth/login", json: #"{"email":"a\u0000@example.com","password":"x"}"#)
        #expect(login.status == 422)
        #expect(login.issueLocations == ["body.email"])
        let title = try await stack.send(
            .POST, "/api/movies", json: #"{"title":"T\u0000","year":2000,"genre":"Drama"}"#, token: admin)
        #expect(title.status == 422)
        #expect(title.issueLocations == ["body.title"])
        let genre = try await stack.send(.GET, "/api/movies?genre=Dr%00ama")
        #expect(genre.status == 422)
        #expect(genre.issueLocations == ["query.genre"])
        let password = try await stack.send(
            .POST, "/api/users", json: #"{"name":"N","email":"n@example.com","password":"secret\u0000123"}"#)
        #expect(password.status == 422)
        #expect(!password.text.contains("secret"), "a password is never echoed")
    }

    // MARK: Authorization

    @Test func whoAddedAMovieIsForAdminsOnly() async throws {
        let stack = try await SecurityStack.start(name: "sec_bymovie")
        defer { Task { await stack.stop() } }
        try await stack.signUp("root@example.com")
        #expect(try await stack.admin(.grant("root@example.com")) == 0)
        let admin = try await stack.login("root@example.com")
        let movie = try await stack.send(.POST, "/api/movies", json: Self.movie, token: admin).json?["id"]?.intValue ?? 0
        let ann = try await stack.signUp("ann@example.com")
        let annToken = try await stack.login("ann@example.com")
        let added = try await stack.send(
            .POST, "/api/watchlist", json: #"{"user_id":\#(ann),"movie_id":\#(movie)}"#, token: annToken)
        #expect(added.status == 201, "\(added.text)")

        let asUser = try await stack.send(.GET, "/api/watchlist/movie/\(movie)", token: annToken)
        #expect(asUser.status == 403)
        #expect(!asUser.text.contains("user_id"))
        #expect(try await stack.send(.GET, "/api/watchlist/movie/\(movie)").status == 401)
        let asAdmin = try await stack.send(.GET, "/api/watchlist/movie/\(movie)", token: admin)
        #expect(asAdmin.status == 200)
        #expect(asAdmin.json?.arrayValue?.first?["user_id"]?.intValue == ann)
    }

    // MARK: Sign-up flood

    @Test func duplicateSignUpsAre409WithoutHashing() async throws {
        let stack = try await SecurityStack.start(name: "sec_flood")
        defer { Task { await stack.stop() } }
        try await stack.signUp("taken@example.com")
        try await stack.signUp("other@example.com")
        let before = try await stack.metric("user_password_hash_computations_total", port: stack.userPort)

        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<40 {
                group.addTask {
                    try await stack.send(
                        .POST, "/api/users", json: #"{"name":"F\#(i)","email":"Taken@example.com","password":"secret123"}"#
                    ).status
                }
            }
            group.addTask { try await stack.send(.POST, "/api/auth/login", json: #"{"email":"other@example.com","password":"secret123"}"#).status + 1000 }
            var all: [Int] = []
            for try await status in group { all.append(status) }
            return all
        }
        #expect(statuses.filter { $0 == 409 }.count == 40, "\(statuses)")
        #expect(statuses.contains(1200), "the concurrent login succeeded: \(statuses)")
        let after = try await stack.metric("user_password_hash_computations_total", port: stack.userPort)
        #expect(after - before == 1, "only the login hashed (before \(before), after \(after))")
    }

    /// A sign-up flood whose clients hang up before their answers costs the hashes that had
    /// started, not all of them: the server cancels the handler of a client that went away,
    /// and a hash still waiting for a thread is dropped (`BlockingPool.run`).
    @Test func signUpsWhoseClientsHaveGoneAreNotHashed() async throws {
        let stack = try await SecurityStack.start(name: "sec_gone", userEnvironment: ["HASH_MAX_PENDING": "64"])
        defer { Task { await stack.stop() } }
        // Straight to the user service, each client an address of its own.
        let (computed, stored) = try await stack.signUpsWhoseClientsLeave(20, port: stack.userPort, emailPrefix: "gone")
        #expect(computed < 10, "\(computed) of 20 sign-ups hashed after their clients had gone")
        #expect(stored < 10, "\(stored) sign-ups stored")
    }

    /// The same flood through the gateway: a client that leaves the gateway mid-request
    /// cancels its handler there, which ends and closes the upstream exchange (that connection
    /// is not reused), so the user service sees its client go too, answers nobody (499) and
    /// drops the hashes that had not started.
    @Test func clientsLeavingTheGatewayStopTheirWorkAtTheService() async throws {
        let stack = try await SecurityStack.start(name: "sec_gw_gone", userEnvironment: ["HASH_MAX_PENDING": "64"])
        defer { Task { await stack.stop() } }
        let gateway = stack.gateway.gateway
        let cutBefore = gateway.abandonedUpstreamRequests.load(ordering: .relaxed)
        let cancelledBefore = try await stack.metric(
            "marquee_http_requests_total", port: stack.userPort, labels: #"status="499""#)

        let (computed, stored) = try await stack.signUpsWhoseClientsLeave(
            20, port: stack.gateway.httpPort, emailPrefix: "left")
        // The gateway cut the exchanges whose clients left while they were upstream, and the
        // service saw those clients go: their handlers were cancelled (499).
        var (cut, cancelled) = (0, 0.0)
        let seen = await eventually(timeout: .seconds(30)) {
            cut = gateway.abandonedUpstreamRequests.load(ordering: .relaxed) - cutBefore
            cancelled = try await stack.metric(
                "marquee_http_requests_total", port: stack.userPort, labels: #"status="499""#) - cancelledBefore
            return cut >= 10 && cancelled >= 10
        }
        #expect(seen, "\(cut) upstream exchanges cut, \(cancelled) requests cancelled at the user service")
        #expect(computed < 10, "\(computed) of 20 sign-ups hashed after their clients had gone")
        #expect(stored < 10, "\(stored) sign-ups stored")
    }

    @Test func aFullHashingQueueIs503WithRetryAfterAtOnce() async throws {
        let stack = try await SecurityStack.start(name: "sec_queue", userEnvironment: ["HASH_MAX_PENDING": "1"])
        defer { Task { await stack.stop() } }
        let replies = try await withThrowingTaskGroup(of: SecurityStack.Reply.self) { group in
            for i in 0..<12 {
                group.addTask {
                    try await stack.send(
                        .POST, "/api/users", json: #"{"name":"Q","email":"q\#(i)@example.com","password":"secret123"}"#)
                }
            }
            var all: [SecurityStack.Reply] = []
            for try await reply in group { all.append(reply) }
            return all
        }
        let busy = replies.filter { $0.status == 503 }
        #expect(!busy.isEmpty, "\(replies.map(\.status))")
        #expect(replies.contains { $0.status == 201 })
        #expect(replies.allSatisfy { $0.status == 201 || $0.status == 503 }, "\(replies.map(\.status))")
        for reply in busy {
            #expect(reply.headers["Retry-After"] == "1")
            #expect(reply.json?["detail"]?.stringValue == "Too many password checks in progress, try again shortly")
        }
        #expect(try await stack.metric("user_password_hash_refused_total", port: stack.userPort) == Double(busy.count))
    }

    @Test func aSignUpFloodLeavesRoomForLogins() async throws {
        // Two pending at most: sign-ups may hold one, the other is kept for verifications.
        let stack = try await SecurityStack.start(name: "sec_room", userEnvironment: ["HASH_MAX_PENDING": "2"])
        defer { Task { await stack.stop() } }
        try await stack.signUp("steady@example.com")
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<16 {
                group.addTask {
                    try await stack.send(
                        .POST, "/api/users", json: #"{"name":"F","email":"f\#(i)@example.com","password":"secret123"}"#
                    ).status
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(20))
                return try await stack.send(
                    .POST, "/api/auth/login", json: #"{"email":"steady@example.com","password":"secret123"}"#
                ).status + 1000
            }
            var all: [Int] = []
            for try await status in group { all.append(status) }
            return all
        }
        #expect(statuses.contains(1200), "the login was not refused: \(statuses)")
        #expect(statuses.contains(503), "the flood filled its half: \(statuses)")
    }

    @Test func aLoginRefusedForCapacityIsNotAFailedLogin() async throws {
        // One computation at a time, held by a sign-up flood: most logins are 503. Each one
        // is charged to the throttle when it starts, and must be returned: 25 refusals would
        // otherwise pass the account's 5 and the client's 20 and lock the user out (429).
        let stack = try await SecurityStack.start(name: "sec_refund", userEnvironment: ["HASH_MAX_PENDING": "1"])
        defer { Task { await stack.stop() } }
        try await stack.signUp("patient@example.com")
        let flood = Task {
            await withTaskGroup(of: Void.self) { group in
                for flooder in 0..<6 {
                    group.addTask {
                        var sent = 0
                        while !Task.isCancelled {
                            sent += 1
                            _ = try? await stack.send(
                                .POST, "/api/users",
                                json: #"{"name":"F","email":"f\#(flooder)-\#(sent)@example.com","password":"secret123"}"#)
                        }
                    }
                }
            }
        }
        var statuses: [Int] = []
        while statuses.filter({ $0 == 503 }).count < 25, !statuses.contains(429), statuses.count < 400 {
            statuses.append(
                try await stack.send(
                    .POST, "/api/auth/login", json: #"{"email":"patient@example.com","password":"secret123"}"#
                ).status)
        }
        flood.cancel()
        await flood.value
        #expect(statuses.filter { $0 == 503 }.count >= 25, "the flood held the queue: \(statuses)")
        #expect(!statuses.contains(429), "\(statuses)")
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 503 }, "\(statuses)")
        // The flood's last computations may still be running: wait for the queue, not a lock.
        var last = 0
        let answered = await eventually(timeout: .seconds(30)) {
            last = try await stack.send(
                .POST, "/api/auth/login", json: #"{"email":"patient@example.com","password":"secret123"}"#
            ).status
            return last != 503
        }
        #expect(answered && last == 200, "\(last)")
    }

    @Test func signUpsAndLoginsAreRateLimitedPerClient() async throws {
        let stack = try await SecurityStack.start(
            name: "sec_rate", userEnvironment: ["AUTH_RATE_LIMIT": "1", "AUTH_RATE_BURST": "3"])
        defer { Task { await stack.stop() } }
        // Duplicate sign-ups: cheap (no hashing), so the bucket barely refills meanwhile.
        var statuses: [Int] = []
        var retryAfter: String?
        for _ in 0..<6 {
            let reply = try await stack.send(
                .POST, "/api/users", json: #"{"name":"R","email":"r0@example.com","password":"secret123"}"#)
            statuses.append(reply.status)
            if reply.status == 429 { retryAfter = reply.headers["Retry-After"] }
        }
        #expect(statuses.first == 201, "\(statuses)")
        #expect(statuses.contains(429), "\(statuses)")
        #expect(statuses.allSatisfy { [201, 409, 429].contains($0) }, "\(statuses)")
        #expect(retryAfter.flatMap(Int.init).map { $0 >= 1 } == true)
        let login = try await stack.send(.POST, "/api/auth/login", json: #"{"email":"r0@example.com","password":"secret123"}"#)
        #expect(login.status == 429, "logins share the client's budget")
        // Another client (the gateway is trusted to name it) has its own budget.
        let elsewhere = try await stack.send(
            .POST, "/api/auth/login", json: #"{"email":"r0@example.com","password":"secret123"}"#,
            headers: ["X-Forwarded-For": "198.51.100.77"], port: stack.userPort)
        #expect(elsewhere.status == 200)
        #expect(try await stack.metric("user_auth_rate_limited_total", port: stack.userPort) >= 2)
    }

    @Test func anAttackerCannotLockAVictimOutAndWaitsLongerEachTime() async throws {
        let stack = try await SecurityStack.start(name: "sec_lockout")
        defer { Task { await stack.stop() } }
        try await stack.signUp("victim@example.com")
        // As the gateway forwards them: the user service trusts 127.0.0.1 (the gateway).
        func attempt(_ password: String, from address: String) async throws -> SecurityStack.Reply {
            try await stack.send(
                .POST, "/api/auth/login", json: #"{"email":"victim@example.com","password":"\#(password)"}"#,
                headers: ["X-Forwarded-For": address], port: stack.userPort)
        }
        for _ in 0..<5 { #expect(try await attempt("guess", from: "203.0.113.9").status == 401) }
        let first = try await attempt("guess", from: "203.0.113.9")
        #expect(first.status == 429)
        let firstWait = Int(first.headers["Retry-After"] ?? "") ?? 0
        // The victim, from their own address, logs in at once.
        #expect(try await attempt("secret123", from: "198.51.100.7").status == 200)
        // The attacker's next failure after the delay doubles it.
        try await Task.sleep(for: .seconds(firstWait) + .milliseconds(200))
        #expect(try await attempt("guess", from: "203.0.113.9").status == 401)
        let second = try await attempt("guess", from: "203.0.113.9")
        #expect(second.status == 429)
        #expect((Int(second.headers["Retry-After"] ?? "") ?? 0) > firstWait, "\(firstWait) then \(second.headers["Retry-After"] ?? "")")
    }

    // MARK: Data left behind

    @Test func aBatchOfUnknownIdsWritesNothingToRedis() async throws {
        let stack = try await SecurityStack.start(name: "sec_batch")
        defer { Task { await stack.stop() } }
        let base: Int64 = 8_100_000_000 + Int64.random(in: 0..<1_000_000) * 1000
        let ids = (0..<1000).map { base + Int64($0) }
        let reply = try await stack.send(
            .POST, "/api/movies/batch", json: #"{"movie_ids":[\#(ids.map(String.init).joined(separator: ","))]}"#)
        #expect(reply.status == 200)
        #expect(reply.text == "[]")
        let redis = try TestServers.redis()
        for id in [ids[0], ids[499], ids[999]] {
            #expect(try redis.cli("EXISTS", "movie:\(id)") == "0", "movie:\(id)")
        }
        // A single read still caches its miss (a tombstone or negative entry is allowed there).
        #expect(try await stack.send(.GET, "/api/movies/\(ids[0])").status == 404)
        #expect(try redis.cli("EXISTS", "movie:\(ids[0])") == "1")
    }

    @Test func anAddRacingTheUsersDeletionLeavesNoOrphan() async throws {
        let stack = try await SecurityStack.start(name: "sec_orphan")
        defer { Task { await stack.stop() } }
        try await stack.signUp("root@example.com")
        #expect(try await stack.admin(.grant("root@example.com")) == 0)
        let admin = try await stack.login("root@example.com")
        var movies: [Int64] = []
        for i in 0..<20 {
            let created = try await stack.send(
                .POST, "/api/movies", json: #"{"title":"M\#(i)","year":2000,"genre":"Drama"}"#, token: admin)
            movies.append(created.json?["id"]?.intValue ?? 0)
        }
        let user = try await stack.signUp("leaving@example.com")
        let token = try await stack.login("leaving@example.com")

        // The deletion reaches the watchlist service (as the relay delivers it) while adds are
        // in flight, each of which the user service already said yes to (the user exists).
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for movie in movies {
                group.addTask {
                    try await stack.send(
                        .POST, "/api/watchlist", json: #"{"user_id":\#(user),"movie_id":\#(movie)}"#, token: token
                    ).status
                }
            }
            group.addTask {
                try await stack.send(.DELETE, "/internal/users/\(user)/watchlist", port: stack.watchlistPort).status + 1000
            }
            var all: [Int] = []
            for try await status in group { all.append(status) }
            return all
        }
        #expect(statuses.contains(1204), "the relay's delete: \(statuses)")
        #expect(statuses.allSatisfy { [201, 404, 1204].contains($0) }, "\(statuses)")
        // Whatever the order, nothing of the user's is left, and later adds are refused.
        #expect(try stack.watchlistSQL("SELECT count(*) FROM watchlist WHERE user_id = \(user)") == "0")
        let late = try await stack.send(
            .POST, "/api/watchlist", json: #"{"user_id":\#(user),"movie_id":\#(movies[0])}"#, token: token)
        #expect(late.status == 404)
        #expect(late.json?["detail"]?.stringValue == "User not found")
        #expect(try stack.watchlistSQL("SELECT count(*) FROM watchlist WHERE user_id = \(user)") == "0")
    }

    @Test func livenessIsTheProcessAndReadinessTheDependencies() async throws {
        var router = ServiceRouter()
        router.get("/api/ping") { _ in .json(.ok, Array("{}".utf8)) }
        let group = try EventLoopGroupHolder.shared()
        let responder = ServiceResponder(
            service: "probe-test", router: router, logger: Logger(service: "probe-test", sink: LogCapture().sink),
            metrics: Metrics(service: "probe-test", loopCount: group.loops.count),
            healthChecks: [HealthCheck(name: "database") { false }])
        #expect(await responder.call(.GET, "/health", on: group.loops[0]).status.code == 503)
        let live = await responder.call(.GET, "/health/live", on: group.loops[0])
        #expect(live.status.code == 200)
        #expect(String(decoding: live.bodyBytes, as: UTF8.self) == #"{"status":"alive","service":"probe-test"}"#)
    }

    // MARK: Already right, and kept so

    @Test func whatWasAlreadyRightStaysRight() async throws {
        let stack = try await SecurityStack.start(name: "sec_kept")
        defer { Task { await stack.stop() } }
        let ann = try await stack.signUp("ann@example.com")
        let bob = try await stack.signUp("bob@example.com")
        let annToken = try await stack.login("ann@example.com")
        let signer = TokenSigner(secret: SecurityStack.secret)
        let header = Base64.encodeURL(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        let claims = Base64.encodeURL(
            Array(#"{"sub":"\#(bob)","email":"bob@example.com","role":"admin","ver":1,"iat":1,"exp":99999999999}"#.utf8))
        let unsigned = "\(header).\(claims)."
        let forged = TokenSigner(secret: "another-secret-of-32-bytes-or-more-xx").sign(
            userID: bob, email: "bob@example.com", lifetime: 600)
        let expired = signer.sign(userID: bob, email: "bob@example.com", version: 1, lifetime: 60, now: 1000)
        for (what, token) in [("alg none", unsigned), ("forged", forged), ("expired", expired)] {
            #expect(try await stack.send(.GET, "/api/users/\(bob)", token: token).status == 401, "\(what)")
            #expect(try await stack.send(.GET, "/api/auth/me", token: token).status == 401, "\(what)")
        }
        // X-User-ID from a client is ignored: only the token names the caller.
        let spoofed = try await stack.send(.GET, "/api/users/\(bob)", token: annToken, headers: ["X-User-ID": "\(bob)"])
        #expect(spoofed.status == 403)
        #expect(try await stack.send(.GET, "/api/users/\(bob)", headers: ["X-User-ID": "\(bob)"]).status == 401)
        // Another user's record and watchlist: 403.
        #expect(try await stack.send(.GET, "/api/watchlist/user/\(bob)", token: annToken).status == 403)
        #expect(try await stack.send(.PATCH, "/api/users/\(bob)", json: #"{"name":"X"}"#, token: annToken).status == 403)
        #expect(try await stack.send(.GET, "/api/watchlist/user/\(ann)", token: annToken).status == 200)
        // Deep JSON is a fast 400.
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(try await stack.send(.POST, "/api/users", json: deep).status == 400)
        // Internal routes are not routed.
        #expect(try await stack.send(.DELETE, "/internal/users/\(ann)/watchlist").status == 404)
        // A client's own X-Forwarded-For does not give it fresh addresses for the login throttle.
        var statuses: [Int] = []
        for i in 0..<22 {
            statuses.append(
                try await stack.send(
                    .POST, "/api/auth/login", json: #"{"email":"nobody\#(i)@example.com","password":"x"}"#,
                    headers: ["X-Forwarded-For": "192.0.2.\(i)"]
                ).status)
        }
        #expect(statuses.last == 429, "\(statuses)")
    }

    // MARK: Headers

    @Test func everyGatewayResponseSaysNosniffAndAServerWithoutAVersion() async throws {
        let stack = try await SecurityStack.start(name: "sec_headers")
        defer { Task { await stack.stop() } }
        let token = "not.a.token"
        let replies = [
            ("gateway root", try await stack.send(.GET, "/")),
            ("proxied 200", try await stack.send(.GET, "/api/movies")),
            ("proxied 404", try await stack.send(.GET, "/api/movies/424242")),
            ("proxied 422", try await stack.send(.GET, "/api/movies/abc")),
            ("gateway 401", try await stack.send(.GET, "/api/users/1", token: token)),
            ("unrouted 404", try await stack.send(.GET, "/internal/users/1/watchlist")),
            ("health", try await stack.send(.GET, "/api/health/users")),
        ]
        for (what, reply) in replies {
            #expect(reply.headers["X-Content-Type-Options"] == "nosniff", "\(what)")
            #expect(reply.headers.values("X-Content-Type-Options").count == 1, "\(what)")
            #expect(reply.headers["Server"] == "marquee", "\(what)")
        }
    }
}

extension SecurityStack {
    /// `count` clients each send a new sign-up (`emailPrefix` + a number) to `port` on a
    /// connection of their own, and close it, unread, once hashing has begun (two threads,
    /// about 0.1 s a hash: most of the flood still waits). Returns how many of those sign-ups
    /// were hashed and stored all the same.
    func signUpsWhoseClientsLeave(_ count: Int, port: Int, emailPrefix: String) async throws -> (computed: Int, stored: Int) {
        let before = try await metric("user_password_hash_computations_total", port: userPort)
        let loop = try EventLoopGroupHolder.shared().loops[0]
        let address = try #require(SocketAddress(numericHost: "127.0.0.1", port: port))
        let sockets = try await withTaskExecutorPreference(loop) { @concurrent () -> [TCPSocket] in
            var sockets: [TCPSocket] = []
            for i in 0..<count {
                let socket = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(5))
                let body = #"{"name":"G","email":"\#(emailPrefix)\#(i)@example.com","password":"secret123"}"#
                try await socket.write(Array((
                    "POST /api/users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    + "X-Forwarded-For: 198.51.100.\(i + 1)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)").utf8))
                sockets.append(socket)
            }
            return sockets
        }
        let started = await eventually(timeout: .seconds(30)) {
            try await self.metric("user_password_hash_computations_total", port: self.userPort) > before
        }
        #expect(started)
        await withTaskExecutorPreference(loop) { @concurrent in for socket in sockets { socket.close() } }

        // A sign-up queues behind whatever of the flood is still queued (new hashes share one
        // lane, in order): once it is answered, the pool has passed every job of the flood.
        try await signUp("\(emailPrefix)-after@example.org")
        let computed = try await metric("user_password_hash_computations_total", port: userPort) - before - 1
        let stored = try usersSQL("SELECT count(*) FROM users WHERE email LIKE '\(emailPrefix)%@example.com'")
        return (Int(computed), Int(stored) ?? count)
    }

    /// The sum of a metric's samples on one service's own port (those whose labels contain
    /// `labels`, when given).
    func metric(_ name: String, port: Int, labels: String? = nil) async throws -> Double {
        let text = try await send(.GET, "/metrics", port: port).text
        var total = 0.0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard line.hasPrefix(name + " ") || line.hasPrefix(name + "{") else { continue }
            if let labels, !line.contains(labels) { continue }
            if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
        }
        return total
    }
}

