import HTTP
import Logging
import MarqueeTesting
import Reactor
import ServiceKit
import Telemetry
import Testing

@testable import UserService

/// Users CRUD against a real PostgreSQL, through the service's whole responder.
@Suite(.timeLimit(.minutes(10))) struct UserServiceTests {
    @Test func createReadListUpdateDelete() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_crud")
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)

        let created = await client.send(
            .POST, "/api/users", json: #"{"name":"  Ann Lee ","email":"Ann.Lee@Example.ORG","password":"pass123"}"#)
        #expect(created.status.code == 201)
        let id = try #require(created.jsonBody?["id"]?.intValue)
        #expect(created.headers["Location"] == "/api/users/\(id)")
        let body = try #require(created.jsonBody?.objectValue)
        #expect(body.keys == ["id", "name", "email", "role", "created_at", "updated_at"])
        #expect(body["name"] == .string("Ann Lee"))
        #expect(body["email"] == .string("ann.lee@example.org"))
        #expect(body["created_at"]?.stringValue?.hasSuffix("Z") == true)
        #expect(created.headers["X-Request-ID"] != nil)

        let fetched = await client.send(.GET, "/api/users/\(id)")
        #expect(fetched.status.code == 200)
        #expect(fetched.jsonBody == created.jsonBody)

        let second = await client.createUser(name: "Bob", email: "bob@example.org")
        let third = await client.createUser(name: "Cy", email: "cy@example.org")
        let list = await client.send(.GET, "/api/users")
        #expect(list.status.code == 200)
        #expect(list.headers["X-Total-Count"] == "3")
        #expect(list.jsonBody?.arrayValue?.compactMap { $0["id"]?.intValue } == [id, second, third])
        let page = await client.send(.GET, "/api/users?limit=1&offset=1")
        #expect(page.headers["X-Total-Count"] == "3")
        #expect(page.jsonBody?.arrayValue?.compactMap { $0["id"]?.intValue } == [second])
        let beyond = await client.send(.GET, "/api/users?offset=10")
        #expect(beyond.bodyText == "[]")
        #expect(beyond.headers["X-Total-Count"] == "3")

        let put = await client.send(.PUT, "/api/users/\(id)", json: #"{"name":"Ann B. Lee"}"#)
        #expect(put.status.code == 200)
        #expect(put.jsonBody?["name"] == .string("Ann B. Lee"))
        #expect(put.jsonBody?["email"] == .string("ann.lee@example.org"))
        #expect(put.jsonBody?["created_at"] == created.jsonBody?["created_at"])
        #expect(put.jsonBody?["updated_at"] != created.jsonBody?["updated_at"])
        let patch = await client.send(.PATCH, "/api/users/\(id)", json: #"{"email":"ANN@example.org","password":"newpass1","current_password":"pass123"}"#)
        #expect(patch.status.code == 200)
        #expect(patch.jsonBody?["email"] == .string("ann@example.org"))
        _ = await client.login(email: "ann@example.org", password: "newpass1")

        let deleted = await client.send(.DELETE, "/api/users/\(id)")
        #expect(deleted.status.code == 204)
        #expect(deleted.bodyBytes.isEmpty)
        for (method, json) in [(HTTPMethod.GET, nil), (.PUT, #"{"name":"X"}"#), (.PATCH, #"{"name":"X"}"#), (.DELETE, nil)] {
            let response = await client.send(method, "/api/users/\(id)", json: json)
            #expect(response.status.code == 404, "\(method)")
            #expect(response.bodyText == #"{"detail":"User not found"}"#)
        }
        #expect(await client.send(.GET, "/api/users/999999").status.code == 404)
    }

    @Test func everyValidationErrorHasFastAPIsShape() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_validation")
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)

        let missing = await client.send(.POST, "/api/users", json: "{}")
        #expect(missing.status.code == 422)
        #expect(missing.issueLocations == ["body.name", "body.email", "body.password"])
        #expect(missing.issueTypes == ["missing", "missing", "missing"])
        #expect(missing.jsonBody?["detail"]?.arrayValue?.first?["msg"] == .string("Field required"))

        let bad = await client.send(
            .POST, "/api/users", json: #"{"name":"   ","email":"not-an-email","password":"12345"}"#)
        #expect(bad.status.code == 422)
        #expect(bad.issueLocations == ["body.name", "body.email", "body.password"])
        #expect(bad.issueTypes == ["string_too_short", "value_error", "string_too_short"])
        #expect(!bad.bodyText.contains("12345"), "a password is never echoed")

        let long = String(repeating: "n", count: 101)
        let longEmail = String(repeating: "a", count: 64) + "@" + String(repeating: "b", count: 186) + ".org"
        let tooLong = await client.send(
            .POST, "/api/users",
            json: #"{"name":"\#(long)","email":"\#(longEmail)","password":"\#(String(repeating: "p", count: 129))"}"#)
        #expect(tooLong.issueLocations == ["body.name", "body.email", "body.password"])
        #expect(tooLong.issueTypes == ["string_too_long", "value_error", "string_too_long"])

        let types = await client.send(.POST, "/api/users", json: #"{"name":5,"email":null,"password":["x"]}"#)
        #expect(types.issueTypes == ["string_type", "string_type", "string_type"])

        // Boundaries that pass: 100 characters of name (after trimming), 6 and 128 of password.
        let edge = await client.send(
            .POST, "/api/users",
            json: #"{"name":" \#(String(repeating: "é", count: 100)) ","email":"e@x.io","password":"123456"}"#)
        #expect(edge.status.code == 201)

        #expect(await client.send(.POST, "/api/users", json: "{").status.code == 400)
        #expect(await client.send(.POST, "/api/users", json: "[]").status.code == 400)
        let form = await client.send(
            .POST, "/api/users", json: "name=x", headers: ["Content-Type": "application/x-www-form-urlencoded"])
        #expect(form.status.code == 415)

        let id = await client.createUser(email: "v@x.io")
        let empty = await client.send(.PUT, "/api/users/\(id)", json: #"{"unrelated":1}"#)
        #expect(empty.status.code == 422)
        #expect(empty.issueLocations == ["body"])
        #expect(empty.issueTypes == ["value_error"])
        let badUpdate = await client.send(.PATCH, "/api/users/\(id)", json: #"{"name":"","email":"x@","password":"1"}"#)
        #expect(badUpdate.issueLocations == ["body.name", "body.email", "body.password", "body.current_password"])
        let nullName = await client.send(.PATCH, "/api/users/\(id)", json: #"{"name":null}"#)
        #expect(nullName.issueTypes == ["string_type"])

        let limit = await client.send(.GET, "/api/users?limit=0&offset=-1")
        #expect(limit.status.code == 422)
        #expect(limit.issueLocations == ["query.limit", "query.offset"])
        #expect(await client.send(.GET, "/api/users?limit=1001").issueLocations == ["query.limit"])
        let path = await client.send(.GET, "/api/users/abc")
        #expect(path.status.code == 422)
        #expect(path.issueLocations == ["path.user_id"])
        #expect(await client.send(.POST, "/api/users/1").status.code == 405)
    }

    @Test func emailIsUniqueCaseInsensitively() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_unique")
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        let ann = await client.createUser(email: "ann@example.org")
        let duplicate = await client.send(
            .POST, "/api/users", json: #"{"name":"Other","email":"ANN@Example.org","password":"secret123"}"#)
        #expect(duplicate.status.code == 409)
        #expect(duplicate.bodyText == #"{"detail":"Email already registered"}"#)

        let bob = await client.createUser(email: "bob@example.org")
        let taken = await client.send(.PUT, "/api/users/\(bob)", json: #"{"email":"Ann@EXAMPLE.org","current_password":"secret123"}"#)
        #expect(taken.status.code == 409)
        // Re-saving one's own address in another case is not a conflict.
        let same = await client.send(.PUT, "/api/users/\(ann)", json: #"{"email":"ANN@example.org","current_password":"secret123"}"#)
        #expect(same.status.code == 200)
    }

    @Test func twentyConcurrentSignUpsWithOneEmailMakeOneUser() async throws {
        // Room for all twenty hashes at once: this test is about the unique index, not the
        // hashing queue's bound (SecurityTests covers that).
        let service = try await UserServiceTestSupport.start(database: "us_concurrent") { $0.hashingMaxPending = 64 }
        defer { Task { await service.shutdown() } }
        let statuses = await withTaskGroup(of: Int.self) { group in
            for i in 0..<20 {
                let client = UserServiceClient(service, loop: i)
                let email = i % 2 == 0 ? "race@example.org" : "RACE@example.org"
                group.addTask {
                    await client.send(
                        .POST, "/api/users", json: #"{"name":"R\#(i)","email":"\#(email)","password":"secret123"}"#
                    ).status.code
                }
            }
            var statuses: [Int] = []
            for await status in group { statuses.append(status) }
            return statuses
        }
        #expect(statuses.filter { $0 == 201 }.count == 1)
        #expect(statuses.filter { $0 == 409 }.count == 19)
        let list = await UserServiceClient(service).send(.GET, "/api/users")
        #expect(list.headers["X-Total-Count"] == "1")
    }

    @Test func passwordsNeverAppearInResponsesOrLogs() async throws {
        let logs = LogCapture()
        let service = try await UserServiceTestSupport.start(database: "us_secrecy", logs: logs)
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        let password = "Zebra-Crossing-9731"
        var responses: [HTTPServerResponse] = []
        responses.append(await client.send(
            .POST, "/api/users", json: #"{"name":"S","email":"s@x.org","password":"\#(password)"}"#))
        let id = responses[0].jsonBody?["id"]?.intValue ?? 0
        responses.append(await client.send(
            .POST, "/api/users", json: #"{"name":"S","email":"s@x.org","password":"\#(password)"}"#))  // 409
        responses.append(await client.send(
            .POST, "/api/users", json: #"{"name":"","email":"s@x.org","password":"\#(password)x"}"#))  // 422
        responses.append(await client.send(
            .POST, "/api/auth/login", json: #"{"email":"s@x.org","password":"\#(password)"}"#))
        responses.append(await client.send(
            .POST, "/api/auth/login", json: #"{"email":"s@x.org","password":"\#(password)-wrong"}"#))
        responses.append(await client.send(
            .POST, "/api/auth/login", json: #"{"email":"nobody@x.org","password":"\#(password)"}"#))
        responses.append(await client.send(.PATCH, "/api/users/\(id)", json: #"{"password":"\#(password)2","current_password":"\#(password)"}"#))
        responses.append(await client.send(.GET, "/api/users/\(id)"))
        responses.append(await client.send(.GET, "/api/users"))
        #expect(responses.map(\.status.code) == [201, 409, 422, 200, 401, 401, 200, 200, 200])

        let hash = try TestServers.postgres().psql("SELECT password_hash FROM users WHERE id = \(id)", database: "us_secrecy")
        let hashTail = String(hash.split(separator: "$").last ?? "")
        #expect(hashTail.count > 20)
        for response in responses {
            let text = response.bodyText + response.headers.description
            #expect(!text.contains(password))
            #expect(!text.contains("scrypt") && !text.contains(hashTail) && !text.contains("password_hash"))
        }
        let lines = logs.captured
        #expect(lines.count >= responses.count, "the access log saw every request")
        for line in lines {
            #expect(!line.contains(password), "log line: \(line)")
            #expect(!line.contains(hashTail) && !line.contains("scrypt$"), "log line: \(line)")
        }
    }

    @Test func healthAndMetrics() async throws {
        let service = try await UserServiceTestSupport.start(database: "us_health")
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        let health = await client.send(.GET, "/health")
        #expect(health.status.code == 200)
        #expect(health.bodyText == #"{"status":"healthy","service":"user-service","checks":{"database":"ok"}}"#)
        _ = await client.send(.POST, "/api/auth/login", json: #"{"email":"x@x.org","password":"nope"}"#)
        let metrics = await client.send(.GET, "/metrics")
        #expect(metrics.status.code == 200)
        #expect(metrics.bodyText.contains(#"user_logins_total{result="failure"} 1"#))
        #expect(metrics.bodyText.contains("user_deletions_delivered_total"))
    }
}
