import HTTP
import Testing

@testable import Gateway

@Suite(.timeLimit(.minutes(5))) struct RouteTableTests {
    let table = RouteTable()

    func route(_ target: String) -> RouteTable.Decision {
        table.route(HTTPRequestHead(method: .GET, target: target))
    }

    @Test func everyPrefixGoesToItsService() {
        #expect(route("/api/users") == .proxy(.users, target: "/api/users"))
        #expect(route("/api/users/1?x=2") == .proxy(.users, target: "/api/users/1?x=2"))
        #expect(route("/api/auth/login") == .proxy(.users, target: "/api/auth/login"))
        #expect(route("/api/movies") == .proxy(.movies, target: "/api/movies"))
        #expect(route("/api/movies/42") == .proxy(.movies, target: "/api/movies/42"))
        #expect(route("/api/movies?limit=5") == .proxy(.movies, target: "/api/movies?limit=5"))
        #expect(route("/api/watchlist/7") == .proxy(.watchlist, target: "/api/watchlist/7"))
    }

    @Test func healthRoutesAreRewritten() {
        #expect(route("/api/health/users") == .proxy(.users, target: "/health"))
        #expect(route("/api/health/movies") == .proxy(.movies, target: "/health"))
        #expect(route("/api/health/watchlist/") == .proxy(.watchlist, target: "/health"))
        #expect(route("/api/health/other") == .notFound)
    }

    @Test func gatewayOwnRoutesAndNotFound() {
        #expect(route("/") == .root)
        #expect(route("/?x") == .root)
        #expect(route("/health") == .gatewayHealth)
        #expect(route("/api/moviesXYZ") == .notFound)
        #expect(route("//api/movies") == .notFound)
        #expect(route("/api") == .notFound)
        #expect(route("/nope") == .notFound)
    }

    @Test func absoluteFormIsForwardedAsOriginForm() {
        #expect(route("http://example.com/api/movies/1?a=b") == .proxy(.movies, target: "/api/movies/1?a=b"))
    }

    @Test func dotSegmentsAndOddTargetsAreRefused() {
        #expect(route("/api/users/../movies") == .badTarget)
        #expect(route("/api/users/%2e%2E/movies") == .badTarget)
        #expect(route("/api/users/.%2e") == .badTarget)
        #expect(route("/api/users/./1") == .badTarget)
        #expect(route("/api/users/...") == .proxy(.users, target: "/api/users/..."))
        #expect(route("/api/users/.x") == .proxy(.users, target: "/api/users/.x"))
        #expect(route("*") == .badTarget)
        #expect(route("example.com:443") == .badTarget)
    }
}
