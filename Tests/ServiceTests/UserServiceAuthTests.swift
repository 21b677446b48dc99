import AuthToken
import HTTP
import Logging
import MarqueeTesting
import Reactor
import ServiceKit
import Synchronization
import Telemetry
import Testing

@testable import UserService

/// Login, tokens, throttling, who may touch which record, and where scrypt runs.
@Suite(.timeLimit(.minutes(10))) struct UserServiceAuthTests {
    @Test func loginIssuesAVerifiableTokenAndMeReturnsTheCaller() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_login")
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        let id = await client.createUser(name: "Tia", email: "tia@example.org", password: "pass123")

        let login = await client.send(.POST, "/api/auth/login", json: #"{"email":"TIA@example.org","password":"pass123"}"#)
        #expect(login.status.code == 200)
        #expect(login.headers["Cache-Control"] == "no-store")
        let body = try #require(login.jsonBody?.objectValue)
        #expect(body.keys == ["access_token", "token_type", "expires_in", "user"])
        #expect(body["token_type"] == .string("bearer"))
        #expect(body["expires_in"] == .int(3600))
        #expect(body["user"]?["id"]?.intValue == id)
        #expect(body["user"]?.objectValue?.keys == ["id", "name", "email", "role", "created_at", "updated_at"])
        let token = try #require(body["access_token"]?.stringValue)
        let claims = try TokenSigner(secret: UserServiceTestSupport.secret).verify(token)
        #expect(claims.userID == id)
        #expect(claims.email == "tia@example.org")
        #expect(claims.expiresAt - claims.issuedAt == 3600)

        let me = await client.send(.GET, "/api/auth/me", token: token)
        #expect(me.status.code == 200)
        #expect(me.jsonBody?["id"]?.intValue == id)
        #expect(me.jsonBody?["email"] == .string("tia@example.org"))
    }

    @Test func meNeedsAValidToken() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_me")
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        let id = await client.createUser(email: "me@example.org")
        let now = TokenSigner.now()
        let expired = TokenSigner(secret: UserServiceTestSupport.secret).sign(
            userID: id, email: "me@example.org", lifetime: 60, now: now - 3600)
        let forged = TokenSigner(secret: "another-secret").sign(userID: id, email: "me@example.org", lifetime: 60)
        let cases: [(String, HTTPHeaders)] = [
            ("none", [:]), ("garbage", ["Authorization": "Bearer not.a.token"]),
            ("basic", ["Authorization": "Basic dXNlcjpwdw=="]), ("expired", ["Authorization": "Bearer \(expired)"]),
            ("forged", ["Authorization": "Bearer \(forged)"]),
        ]
        for (name, headers) in cases {
            let response = await client.send(.GET, "/api/auth/me", headers: headers)
            #expect(response.status.code == 401, "\(name)")
            #expect(response.headers["WWW-Authenticate"] == "Bearer", "\(name)")
        }
        // A valid token for a user deleted since is refused too.
        let token = await client.login(email: "me@example.org")
        #expect(await client.send(.DELETE, "/api/users/\(id)", token: token).status.code == 204)
        #expect(await client.send(.GET, "/api/auth/me", token: token).status.code == 401)
    }

    @Test func unknownEmailAndWrongPasswordGetTheSameAnswer() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_login_fail")
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        _ = await client.createUser(email: "known@example.org", password: "right-one")
        let wrong = await client.send(
            .POST, "/api/auth/login", json: #"{"email":"known@example.org","password":"wrong-one"}"#)
        let unknown = await client.send(
            .POST, "/api/auth/login", json: #"{"email":"unknown@example.org","password":"right-one"}"#)
        for response in [wrong, unknown] {
            #expect(response.status.code == 401)
            #expect(response.bodyText == #"{"detail":"Invalid email or password"}"#)
        }
        var wrongHeaders = wrong.headers
        var unknownHeaders = unknown.headers
        wrongHeaders.remove(name: "X-Request-ID")
        unknownHeaders.remove(name: "X-Request-ID")
        #expect(wrongHeaders == unknownHeaders)
        let missing = await client.send(.POST, "/api/auth/login", json: #"{"email":"known@example.org"}"#)
        #expect(missing.status.code == 422)
        #expect(missing.issueLocations == ["body.password"])
    }

    /// With the production cost (N = 2^15) both failures do one scrypt: their times are alike
    /// and both far above a login that hashed nothing would take.
    @Test func unknownEmailTakesAboutAsLongAsAWrongPassword() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_login_timing") { configuration in
            configuration.hasher = PasswordHasher()
        }
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        _ = await client.createUser(email: "timed@example.org", password: "right-one")
        let clock = ContinuousClock()
        func timed(_ json: String, from address: String) async -> Duration {
            let start = clock.now
            let response = await client.send(.POST, "/api/auth/login", json: json, headers: ["X-Real-IP": address])
            #expect(response.status.code == 401)
            return start.duration(to: clock.now)
        }
        // Interleaved, and the fastest of each kept: other suites hash on the same blocking
        // pool meanwhile, and the minimum is the sample least disturbed by them.
        var wrongSamples: [Duration] = []
        var unknownSamples: [Duration] = []
        for i in 0..<5 {
            wrongSamples.append(await timed(#"{"email":"timed@example.org","password":"wrong-one"}"#, from: "192.0.2.\(i)"))
            unknownSamples.append(await timed(#"{"email":"nobody@example.org","password":"right-one"}"#, from: "192.0.2.\(i)"))
        }
        let wrong = wrongSamples.min() ?? .zero
        let unknown = unknownSamples.min() ?? .zero
        // Only the cause is asserted: both did one production-cost scrypt (tens of ms; a login
        // that hashed nothing takes well under 10 ms), neither did two. The ratio's range is wide
        // because a loaded machine stretches single samples.
        let ratio = unknown / wrong
        #expect(ratio > 0.4 && ratio < 2.5, "unknown \(unknown) vs wrong \(wrong)")
        #expect(unknown > .milliseconds(10) && wrong > .milliseconds(10), "both ran scrypt: \(unknown), \(wrong)")
    }

    @Test func repeatedFailuresAreThrottledPerEmailFromAClientAndPerClient() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_throttle") { configuration in
            configuration.throttle = LoginThrottlePolicy(
                perEmail: .init(maxFailures: 3, window: .seconds(60), lockout: .seconds(30), maxLockout: .seconds(60)),
                perClient: .init(maxFailures: 5, window: .seconds(60), lockout: .seconds(30), maxLockout: .seconds(60)))
        }
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        _ = await client.createUser(email: "victim@example.org", password: "right-one")
        func attempt(_ email: String, _ password: String, from address: String) async -> HTTPServerResponse {
            await client.send(
                .POST, "/api/auth/login", json: #"{"email":"\#(email)","password":"\#(password)"}"#,
                headers: ["X-Real-IP": address])
        }
        for _ in 0..<3 {
            #expect(await attempt("victim@example.org", "wrong", from: "198.51.100.1").status.code == 401)
        }
        let throttled = await attempt("VICTIM@example.org", "right-one", from: "198.51.100.1")
        #expect(throttled.status.code == 429)
        let retryAfter = try #require(throttled.headers["Retry-After"].flatMap { Int($0) })
        #expect(retryAfter >= 29 && retryAfter <= 30)
        #expect(throttled.jsonBody?["detail"] == .string("Too many failed login attempts, try again later"))
        // The email's failures count per client address: the victim, elsewhere, is not locked out.
        _ = await client.login(email: "victim@example.org", password: "right-one", headers: ["X-Real-IP": "198.51.100.50"])
        // Other emails are not affected...
        _ = await client.createUser(email: "other@example.org", password: "right-one")
        _ = await client.login(email: "other@example.org", password: "right-one", headers: ["X-Real-IP": "198.51.100.60"])

        // ...but one client address trying many emails is.
        for i in 0..<5 {
            #expect(await attempt("guess\(i)@example.org", "pw", from: "203.0.113.7").status.code == 401)
        }
        let byClient = await attempt("other@example.org", "right-one", from: "203.0.113.7")
        #expect(byClient.status.code == 429)
        #expect(byClient.headers["Retry-After"] != nil)
        #expect(await attempt("other@example.org", "right-one", from: "203.0.113.8").status.code == 200)

        let metrics = await client.send(.GET, "/metrics").bodyText
        #expect(metrics.contains(#"user_logins_total{result="throttled"} 2"#))
    }

    @Test func aTokenLimitsTheCallerToTheirOwnRecord() async throws {
        for required in [false, true] {
            let service = try await UserServiceTestSupport.start(database: "us_self_\(required)") { configuration in
                configuration.authRequired = required
            }
            let client = UserServiceClient(service)
            // Sign-up stays open whatever AUTH_REQUIRED says.
            let ann = await client.createUser(email: "ann@example.org")
            let bob = await client.createUser(email: "bob@example.org")
            _ = await client.createUser(email: "boss@example.org")
            _ = try await service.store.setRole(email: "boss@example.org", role: .admin)
            let annToken = await client.login(email: "ann@example.org")
            let bossToken = await client.login(email: "boss@example.org")

            for (method, json) in [(HTTPMethod.GET, nil), (.PUT, #"{"name":"X"}"#), (.PATCH, #"{"name":"X"}"#), (.DELETE, nil)] {
                let other = await client.send(method, "/api/users/\(bob)", json: json, token: annToken)
                #expect(other.status.code == 403, "\(method) required=\(required)")
                let missing = await client.send(method, "/api/users/987654", json: json, token: annToken)
                #expect(missing.status.code == 403, "no existence oracle: \(method)")
                let unauthenticated = await client.send(method, "/api/users/\(bob)", json: json)
                #expect(unauthenticated.status.code == (required ? 401 : (method == .DELETE ? 204 : 200)))
            }
            #expect(await client.send(.GET, "/api/users/\(ann)", token: annToken).status.code == 200)
            #expect(await client.send(.PATCH, "/api/users/\(ann)", json: #"{"name":"Ann"}"#, token: annToken)
                .status.code == 200)
            #expect(await client.send(.GET, "/api/users/\(ann)", token: "bad").status.code == 401)
            // The list is everyone's data: admins only once a caller is known.
            #expect(await client.send(.GET, "/api/users", token: annToken).status.code == 403)
            #expect(await client.send(.GET, "/api/users", token: bossToken).status.code == 200)
            #expect(await client.send(.GET, "/api/users").status.code == (required ? 401 : 200))
            #expect(await client.send(.DELETE, "/api/users/\(ann)", token: annToken).status.code == 204)
            await service.shutdown()
        }
    }

    @Test func authRequiredWithoutASecretRefusesToStart() async throws {
        await #expect(throws: UserServiceError.self) {
            _ = try await UserServiceTestSupport.start(database: "us_nosecret") { configuration in
                configuration.authRequired = true
                configuration.authSecret = ""
            }
        }
        // Without AUTH_REQUIRED a secret is generated, and its tokens work within the process.
        let service = try await UserServiceTestSupport.start(database: "us_devsecret") { configuration in
            configuration.authSecret = nil
        }
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        _ = await client.createUser(email: "dev@example.org")
        let token = await client.login(email: "dev@example.org")
        #expect(await client.send(.GET, "/api/auth/me", token: token).status.code == 200)
    }

    @Test func hashesAreSaltedScryptWithTheirParametersAndUpgradeOnLogin() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_hash")
        let client = UserServiceClient(service)
        let a = await client.createUser(email: "a@example.org", password: "same-password")
        let b = await client.createUser(email: "b@example.org", password: "same-password")
        let postgres = try TestServers.postgres()
        let hashA = try postgres.psql("SELECT password_hash FROM users WHERE id = \(a)", database: "us_hash")
        let hashB = try postgres.psql("SELECT password_hash FROM users WHERE id = \(b)", database: "us_hash")
        #expect(hashA.hasPrefix("scrypt$1024$8$1$"))
        #expect(hashA != hashB, "salted")
        #expect(try PasswordHasher().verify("same-password", against: hashA))
        #expect(try !PasswordHasher().verify("other-password", against: hashA))
        await service.shutdown()

        // The same database under the production cost: old hashes still verify, and a
        // successful login stores one with the raised parameters.
        let url = postgres.url(database: "us_hash")
        var configuration = UserService.Configuration(databaseURL: url, authSecret: UserServiceTestSupport.secret)
        configuration.hasher = PasswordHasher()
        let stronger = try await UserService.start(
            configuration: configuration, group: try EventLoopGroupHolder.shared(),
            logger: Logger(service: UserService.name, sink: LogCapture().sink))
        defer { Task { await stronger.shutdown() } }
        _ = await UserServiceClient(stronger).login(email: "a@example.org", password: "same-password")
        let upgraded = try postgres.psql("SELECT password_hash FROM users WHERE id = \(a)", database: "us_hash")
        #expect(upgraded.hasPrefix("scrypt$32768$8$1$"))
        #expect(try PasswordHasher().verify("same-password", against: upgraded))
        _ = await UserServiceClient(stronger).login(email: "a@example.org", password: "same-password")
    }

    /// A password or email change whose current-password check was refused for capacity
    /// (503) was not decided: it must not count as a failed check, or a busy minute would
    /// turn a user's sixth attempt into a 429 lockout (the refund in `verifyCurrentPassword`).
    @Test func aChangeRefusedForCapacityIsNotAFailedPasswordCheck() async throws {
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        let service = try await UserServiceTestSupport.start(database: "us_change_refund") { configuration in
            configuration.hashingMaxPending = 1
            configuration.hashingPool = pool
        }
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        let id = await client.createUser(email: "patient@example.org")
        let token = await client.login(email: "patient@example.org")
        // The queue's only place: a check waiting behind the pool's held thread.
        let gate = BlockingPoolGate(limit: .seconds(60))
        gate.close(pool)
        let holder = Task { try await service.hashing.verify("secret123", against: "not-a-hash", client: nil) }
        #expect(await eventually { service.hashing.pending == 1 })

        var statuses: [Int] = []
        for _ in 0..<25 {
            let change = await client.send(
                .PUT, "/api/users/\(id)", json: #"{"password":"changed123","current_password":"secret123"}"#, token: token)
            statuses.append(Int(change.status.code))
        }
        let stillHeld = !gate.hasLetGo
        gate.release()
        _ = try await holder.value
        #expect(stillHeld, "the queue stayed full throughout")
        #expect(statuses.allSatisfy { $0 == 503 }, "\(statuses)")
        let change = await client.send(
            .PUT, "/api/users/\(id)", json: #"{"password":"changed123","current_password":"secret123"}"#, token: token)
        #expect(change.status.code == 200, "\(change.bodyText)")
    }

    /// A sign-up whose caller is cancelled (its client went away) while its hash waits for a
    /// thread hashes nothing and gives its place in the queue back at once.
    @Test func aSignUpCancelledWhileItsHashWaitsCostsNothing() async throws {
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        let service = try await UserServiceTestSupport.start(database: "us_cancelled") { configuration in
            configuration.hashingPool = pool
            configuration.hashingMaxPending = 8  // sign-ups may hold half: 4
        }
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        let before = service.hashing.computations
        let gate = BlockingPoolGate(limit: .seconds(60))
        gate.close(pool)
        let signUps = (0..<4).map { i in
            Task { await client.send(.POST, "/api/users", json: #"{"name":"C","email":"c\#(i)@example.org","password":"secret123"}"#) }
        }
        #expect(await eventually { service.hashing.pending == 4 }, "four hashes wait for the held thread")
        for signUp in signUps { signUp.cancel() }
        #expect(await eventually { service.hashing.pending == 0 }, "the cancelled hashes gave their places back")
        let freedWhileHeld = !gate.hasLetGo
        gate.release()
        #expect(freedWhileHeld)
        for signUp in signUps {
            let answer = await signUp.value
            #expect(answer.status.code == 499, "nobody reads it, and it is no 5xx: \(answer.bodyText)")
        }
        // The pool has passed the dropped jobs once a later one has run.
        _ = await client.createUser(email: "after@example.org")
        #expect(service.hashing.computations - before == 1, "only the last sign-up hashed")
        let list = await client.send(.GET, "/api/users")
        #expect(!list.bodyText.contains("c0@example.org"), "no cancelled sign-up was stored")
    }

    /// scrypt at N = 2^15 takes tens of milliseconds, and a hash holds a place in the pool's
    /// queue (`pending`) from before it starts until its caller resumes. Run on a loop, a hash
    /// would hold that loop from taking its place to giving it back, so a ticker on that loop
    /// could never see one pending. A ticker on every loop sees hashes pending: they ran
    /// elsewhere. (Ordering, not timing: a loaded machine delays ticks but cannot make a
    /// ticker see a hash in flight on its own loop.)
    @Test func hashingRunsOffTheLoops() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_offloop") { configuration in
            configuration.hasher = PasswordHasher()
        }
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service, loop: 0)
        let clock = ContinuousClock()
        let hashing = service.hashing
        var tickers: [Task<Int, Never>] = []
        for loop in service.group.loops {
            tickers.append(
                Task(executorPreference: loop) { () -> Int in
                    var ticksWithAHashPending = 0
                    while !Task.isCancelled {
                        try? await loop.sleep(for: .milliseconds(1))
                        if hashing.pending > 0 { ticksWithAHashPending += 1 }
                    }
                    return ticksWithAHashPending
                })
        }
        let start = clock.now
        for i in 0..<4 { _ = await client.createUser(email: "h\(i)@example.org") }
        _ = await client.login(email: "h0@example.org")
        let perHash = start.duration(to: clock.now) / 5
        for ticker in tickers { ticker.cancel() }
        #expect(perHash > .milliseconds(10), "production-cost scrypt takes a while: \(perHash)")
        for (index, ticker) in tickers.enumerated() {
            let ticks = await ticker.value
            #expect(ticks > 0, "loop \(index) never ran while a hash was pending")
        }
    }
}
