import Gateway
import HTTP
import MarqueeTesting
import Reactor
import Testing

/// The gateway's `/metrics` on its own listener (`METRICS_PORT`), never on the public port.
@Suite(.serialized, .timeLimit(.minutes(10))) struct GatewayMetricsTests {
    @Test func metricsAreServedOnTheirOwnListenerOnly() async throws {
        let movies = try await TestUpstream.start(name: "movies")
        let gateway = try await GatewayUnderTest.start(movies: [movies.url]) { $0.metricsPort = 0 }
        let metricsPort = try #require(gateway.server.metricsPort)
        #expect(metricsPort != gateway.port)
        #expect(try await gateway.send(.GET, "/api/movies/1").status == .ok)
        #expect(try await gateway.send(.GET, "/").status == .ok)
        #expect(try await gateway.send(.GET, "/nowhere").status == .notFound)

        // The public port does not serve it.
        let publicMetrics = try await gateway.send(.GET, "/metrics")
        #expect(publicMetrics.status == .notFound)

        let scrape = try await gateway.client.execute(
            HTTPClientRequest(method: .GET, origin: HTTPOrigin(host: "127.0.0.1", port: metricsPort), target: "/metrics"))
        #expect(scrape.status == .ok)
        #expect(scrape.head.headers["Content-Type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let body = text(scrape.body)
        // Requests by route class and status class: the relayed 200, the own 200 and two 404s.
        #expect(body.contains(#"marquee_gateway_requests_total{route="upstream",status="2xx"} 1"#), "\(body)")
        #expect(body.contains(#"marquee_gateway_requests_total{route="gateway",status="2xx"} 1"#))
        #expect(body.contains(#"marquee_gateway_requests_total{route="gateway",status="4xx"} 2"#))
        // The connection to the movie upstream waits idle in its loop's pool.
        let instance = "127.0.0.1:\(movies.server.localPort)"
        let idle = body.split(separator: "\n").filter {
            $0.hasPrefix(#"marquee_upstream_pool_connections{upstream="movie-service",instance="\#(instance)""#)
                && $0.contains(#"state="idle""#)
        }
        #expect(idle.contains { !$0.hasSuffix(" 0.0") }, "\(idle)")
        #expect(body.contains(#"marquee_upstream_instance_admitted{upstream="movie-service",instance="\#(instance)"} 1.0"#))
        #expect(body.contains(#"marquee_http_connections_open{loop="0"}"#))
        #expect(body.contains(#"marquee_event_loop_lag_seconds{loop="0"}"#))
        #expect(body.contains(#"marquee_gateway_retries_total{reason="connect"} 0"#))
        #expect(body.contains("marquee_gateway_abandoned_requests_total 0"))

        let other = try await gateway.client.execute(
            HTTPClientRequest(method: .GET, origin: HTTPOrigin(host: "127.0.0.1", port: metricsPort), target: "/api/movies/1"))
        #expect(other.status == .notFound)
        #expect(movies.requests == 1)
        await gateway.stop()
        await movies.stop()
    }

    @Test func noMetricsListenerUnlessAsked() async throws {
        let movies = try await TestUpstream.start(name: "movies")
        let gateway = try await GatewayUnderTest.start(movies: [movies.url])
        #expect(gateway.server.metricsPort == nil)
        await gateway.stop()
        await movies.stop()
    }
}
