import MarqueeTesting
import Reactor
import Testing

@testable import HTTP

@Suite("Server connection state machine (no sockets)", .timeLimit(.minutes(5)))
struct ServerStateMachineTests {
    @Test func keepAliveRequestReturnsToIdle() {
        var machine = HTTPConnectionStateMachine()
        machine.bytesReceived()
        #expect(machine.state == .readingHead)
        let keepAlive = machine.headReceived(requestKeepAlive: true)
        #expect(keepAlive)
        #expect(machine.responseSent(bodyFullyRead: true, moreBytesBuffered: false) == .readNextRequest)
        #expect(machine.state == .idle)
    }

    @Test func pipelinedBytesGoStraightToReadingHead() {
        var machine = HTTPConnectionStateMachine()
        _ = machine.headReceived(requestKeepAlive: true)
        #expect(machine.responseSent(bodyFullyRead: true, moreBytesBuffered: true) == .readNextRequest)
        #expect(machine.state == .readingHead)
    }

    @Test func connectionCloseRequestClosesAfterResponse() {
        var machine = HTTPConnectionStateMachine()
        #expect(machine.headReceived(requestKeepAlive: false) == false)
        #expect(machine.responseSent(bodyFullyRead: true, moreBytesBuffered: false) == .close)
        #expect(machine.state == .closed)
    }

    @Test func responseThatForcesCloseWins() {
        var machine = HTTPConnectionStateMachine()
        _ = machine.headReceived(requestKeepAlive: true)
        machine.responseForcesClose()
        #expect(machine.responseSent(bodyFullyRead: true, moreBytesBuffered: false) == .close)
    }

    @Test func unreadBodyClosesTheConnection() {
        var machine = HTTPConnectionStateMachine()
        _ = machine.headReceived(requestKeepAlive: true)
        #expect(machine.responseSent(bodyFullyRead: false, moreBytesBuffered: false) == .close)
    }

    @Test func idleTimeoutClosesSilentlyButAStalledHeadGets408() {
        var idle = HTTPConnectionStateMachine()
        #expect(idle.timedOut() == .close)
        var stalled = HTTPConnectionStateMachine()
        stalled.bytesReceived()
        #expect(stalled.timedOut() == .sendRequestTimeoutAndClose)
    }

    /// A draining server ends an idle connection with a 408 (it read nothing of a next
    /// request), whether its wait ends by the drain or by a deadline; a client's own close,
    /// or an idle timeout outside a drain, ends it silently.
    @Test func drainEndsAnIdleConnectionWith408() {
        var drained = HTTPConnectionStateMachine()
        _ = drained.drainRequested()
        #expect(drained.inputEnded() == .sendRequestTimeoutAndClose)
        #expect(drained.state == .closed)

        var waiting = HTTPConnectionStateMachine()
        _ = waiting.drainRequested()
        #expect(waiting.timedOut() == .sendRequestTimeoutAndClose)

        var clientClosed = HTTPConnectionStateMachine()
        #expect(clientClosed.inputEnded() == .close)

        var partial = HTTPConnectionStateMachine()
        partial.bytesReceived()
        _ = partial.drainRequested()
        #expect(partial.inputEnded() == .close, "a cut request is not answered")
    }

    @Test func drainClosesIdleAtOnceAndBusyAfterTheResponse() {
        var idle = HTTPConnectionStateMachine()
        let closeNow = idle.drainRequested()
        #expect(closeNow)
        #expect(idle.state == .idle, "idle until its wait for a request ends")

        var busy = HTTPConnectionStateMachine()
        _ = busy.headReceived(requestKeepAlive: true)
        #expect(busy.drainRequested() == false)
        #expect(busy.responseSent(bodyFullyRead: true, moreBytesBuffered: false) == .close)

        var beforeHead = HTTPConnectionStateMachine()
        _ = beforeHead.drainRequested()
        var reading = HTTPConnectionStateMachine()
        reading.bytesReceived()
        #expect(reading.drainRequested() == false)
        let keepAlive = reading.headReceived(requestKeepAlive: true)
        #expect(keepAlive == false, "a request read during a drain is the last")
    }
}

@Suite("Router (no sockets)", .timeLimit(.minutes(5)))
struct RouterTests {
    static let group = try! EventLoopGroupHolder.shared()

    func request(_ method: HTTPMethod, _ target: String) -> HTTPServerRequest {
        HTTPServerRequest(
            head: HTTPRequestHead(method: method, target: target, headers: ["Host": "x"]),
            body: HTTPRequestBody(bytes: []), remoteAddress: nil, loop: Self.group.loops[0])
    }

    func router() -> Router {
        var router = Router()
        router.get("/api/movies") { _ in .json(.ok, Array("list".utf8)) }
        router.get("/api/movies/{id:int}") { request in
            .json(.ok, Array("movie \(try request.parameters.int("id"))".utf8))
        }
        router.delete("/api/movies/{id:int}") { _ in HTTPServerResponse(status: .noContent) }
        router.get("/api/watchlist/user/{user_id:int}/movie/{movie_id:int}") { request in
            .json(.ok, Array("\(try request.parameters.int("user_id"))-\(try request.parameters.int("movie_id"))".utf8))
        }
        router.get("/files/{rest...}") { request in .json(.ok, Array(String(request.parameters["rest"] ?? "").utf8)) }
        return router
    }

    func body(_ response: HTTPServerResponse) -> String {
        if case .bytes(let bytes) = response.body { return String(decoding: bytes, as: UTF8.self) }
        return ""
    }

    @Test func matchesLiteralAndTypedParameters() async throws {
        let router = router()
        #expect(body(try await router.respond(to: request(.GET, "/api/movies"))) == "list")
        #expect(body(try await router.respond(to: request(.GET, "/api/movies/42"))) == "movie 42")
        #expect(body(try await router.respond(to: request(.GET, "/api/movies/42/"))) == "movie 42")
        #expect(body(try await router.respond(to: request(.GET, "/api/movies?genre=Drama"))) == "list")
        #expect(body(try await router.respond(to: request(.GET, "/api/watchlist/user/1/movie/3"))) == "1-3")
        #expect(body(try await router.respond(to: request(.GET, "/files/a/b/c"))) == "a/b/c")
    }

    @Test func unknownPathIs404AndWrongMethodIs405WithAllow() async throws {
        let router = router()
        await #expect(throws: HTTPServerError.notFound) { _ = try await router.respond(to: request(.GET, "/nope")) }
        do {
            _ = try await router.respond(to: request(.POST, "/api/movies/7"))
            Issue.record("expected 405")
        } catch let error as HTTPServerError {
            #expect(error.status == .methodNotAllowed)
            #expect(error.headers["Allow"] == "GET, DELETE")
        }
    }

    @Test func nonIntegerParameterIs422() async throws {
        do {
            _ = try await router().respond(to: request(.GET, "/api/movies/abc"))
            Issue.record("expected 422")
        } catch let error as HTTPServerError {
            #expect(error.status == .unprocessableEntity)
            #expect(error.reason == .invalidPathParameter(PathParameterIssue(name: "id", input: "abc", kind: .notAnInteger)))
        }
    }

    /// The router walks the path in place: empty segments are skipped, a `{rest...}` is a
    /// slice of the path unless a doubled slash inside it must be normalised.
    @Test func pathSegmentsAndRestParameters() async throws {
        let router = router()
        #expect(body(try await router.respond(to: request(.GET, "//api///movies//42//"))) == "movie 42")
        #expect(body(try await router.respond(to: request(.GET, "http://example.com/api/movies/7?x=/1"))) == "movie 7")
        #expect(body(try await router.respond(to: request(.GET, "/files/a//b///c/"))) == "a/b/c")
        #expect(body(try await router.respond(to: request(.GET, "/files/"))) == "")
        #expect(body(try await router.respond(to: request(.GET, "/files/%C3%A9t%C3%A9/x?y"))) == "%C3%A9t%C3%A9/x")
        await #expect(throws: HTTPServerError.notFound) { _ = try await router.respond(to: request(.GET, "/api/moviesX")) }
        await #expect(throws: HTTPServerError.notFound) { _ = try await router.respond(to: request(.GET, "/api/movies/1/2")) }
        let seen = "/a//bé/c/".withContiguousUTF8 { bytes in
            var segments = PathSegments(bytes)
            var seen: [String] = []
            while let segment = segments.next() { seen.append(String(decoding: bytes[segment], as: UTF8.self)) }
            return seen
        }
        #expect(seen == ["a", "bé", "c"])
    }

    /// `{name:int}` is checked on the path's bytes; it must accept exactly what
    /// `PathParameters.int` (that is, `Int(_:)`) will parse, or a handler would throw a 422
    /// the router promised away, or a route would refuse a number it could serve.
    @Test func integerParametersAreCheckedAsIntParses() {
        let inputs = [
            "0", "7", "42", "007", "-1", "+5", "-0", "+", "-", "", "1a", "a1", " 1", "1 ", "1.5", "١",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
            "99999999999999999999", "--1", "+-1",
        ]
        for input in inputs {
            let checked = input.withContiguousUTF8 { Router.isInteger($0) }
            #expect(checked == (Int(input) != nil), "\(input)")
        }
    }

    @Test func literalSegmentsCompareAsBytes() {
        #expect("movies".withContiguousUTF8 { Router.bytesEqual(Array("movies".utf8), $0) })
        #expect(!"Movies".withContiguousUTF8 { Router.bytesEqual(Array("movies".utf8), $0) })
        #expect(!"movie".withContiguousUTF8 { Router.bytesEqual(Array("movies".utf8), $0) })
        #expect("".withContiguousUTF8 { Router.bytesEqual([], $0) })
    }

    @Test func headIsServedByGetRoutes() async throws {
        #expect(body(try await router().respond(to: request(.HEAD, "/api/movies"))) == "list")
    }

    /// `{name:id}`: a positive integer. 0 and negatives are a 422 `greater_than` (FastAPI's
    /// `gt=0`), found by schemathesis when the watchlist check accepted a user id of 0.
    @Test func idParametersArePositiveIntegers() async throws {
        var router = Router()
        router.get("/api/users/{user_id:id}") { request in .json(.ok, Array("\(try request.parameters.int("user_id"))".utf8)) }
        #expect(body(try await router.respond(to: request(.GET, "/api/users/7"))) == "7")
        #expect(body(try await router.respond(to: request(.GET, "/api/users/+7"))) == "7")
        for input in ["0", "-1", "-0", "000", "-9223372036854775808"] {
            do {
                _ = try await router.respond(to: request(.GET, "/api/users/\(input)"))
                Issue.record("\(input) was accepted as an id")
            } catch let error as HTTPServerError {
                #expect(error.status == .unprocessableEntity)
                #expect(error.reason == .invalidPathParameter(PathParameterIssue(name: "user_id", input: input, kind: .notPositive)))
            }
        }
        await #expect(throws: HTTPServerError(.invalidPathParameter(PathParameterIssue(name: "user_id", input: "x", kind: .notAnInteger)))) {
            _ = try await router.respond(to: request(.GET, "/api/users/x"))
        }
    }

    /// A path that a literal route serves for other methods is a 405, even where a typed
    /// parameter route would take the method but for its type (`PUT /api/movies/batch`
    /// beside `PUT /api/movies/{movie_id:id}`): schemathesis's undocumented-method check.
    @Test func literalMatchForOtherMethodsIs405BeforeATypeMismatch() async throws {
        var router = Router()
        router.post("/api/movies/batch") { _ in .json(.ok, Array("batch".utf8)) }
        router.put("/api/movies/{movie_id:id}") { _ in .json(.ok, Array("put".utf8)) }
        do {
            _ = try await router.respond(to: request(.PUT, "/api/movies/batch"))
            Issue.record("expected 405")
        } catch let error as HTTPServerError {
            #expect(error.status == .methodNotAllowed && error.headers["Allow"] == "POST")
        }
        await #expect(throws: HTTPServerError.self) { _ = try await router.respond(to: request(.PUT, "/api/movies/abc")) }
        #expect(body(try await router.respond(to: request(.PUT, "/api/movies/3"))) == "put")
    }
}
