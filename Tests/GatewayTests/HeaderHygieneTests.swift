import HTTP
import Telemetry
import Testing

@testable import Gateway

@Suite(.timeLimit(.minutes(5))) struct HeaderHygieneTests {
    let untrusted = HeaderHygiene.Peer(address: "203.0.113.9", isTrusted: false, scheme: "http")
    let trusted = HeaderHygiene.Peer(address: "10.0.0.2", isTrusted: true, scheme: "https")

    func head(_ fields: [(String, String)], method: HTTPMethod = .GET) -> HTTPRequestHead {
        HTTPRequestHead(method: method, target: "/api/movies/1", headers: HTTPHeaders(fields.map { (name: $0.0, value: $0.1) }))
    }

    /// The request walk is skipped when the names filter shows none of the fields it edits,
    /// so that list must hold every name `classify` gives an edited kind, and the fields a
    /// client's request usually has must not share a filter bit with them.
    @Test func theRequestWalkIsSkippedOnlyWhenNothingIsEdited() {
        let classified = [
            "te", "upgrade", "trailer", "keep-alive", "connection", "proxy-connection", "transfer-encoding",
            "proxy-authenticate", "proxy-authorization", "content-length", "expect", "x-user-id", "x-request-id",
            "x-real-ip", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "host", "date",
            "server", "strict-transport-security", "accept", "traceparent", "tracestate",
        ]
        // `traceparent` is edited but left out of the filter: the caller says when it is there.
        let responseOnly: [HeaderHygiene.FieldKind] = [.host, .date, .server, .hsts, .other, .traceparent]
        let listed = HeaderHygiene.FieldKind.requestEditedNames.map { $0.description.lowercased() }
        for name in classified {
            let kind = name.withContiguousUTF8 { HeaderHygiene.FieldKind.classify(UnsafeRawBufferPointer($0)) }
            #expect(listed.contains(name) == !responseOnly.contains(kind), "\(name)")
        }
        let usual: HTTPHeaders = [
            "Host": "example.com", "Accept": "*/*", "Accept-Encoding": "gzip", "User-Agent": "curl/7.88",
            "Authorization": "Bearer x", "Content-Type": "application/json",
        ]
        #expect(!usual.mayContainAny(of: HeaderHygiene.FieldKind.editedInRequests))
        for name in HeaderHygiene.FieldKind.requestEditedNames {
            var edited = usual
            edited.add(name: name.description, value: "1")
            #expect(edited.mayContainAny(of: HeaderHygiene.FieldKind.editedInRequests), "\(name)")
        }
    }

    /// Request trailers go upstream only with what a trailer may carry and the gateway does
    /// not own: a client cannot claim an identity, a route or a framing in them.
    @Test func requestTrailersKeepOnlyWhatATrailerMayCarry() {
        let trailers = HTTPHeaders([
            (name: "X-Checksum", value: "sha256-abc"), (name: "X-User-ID", value: "admin"),
            (name: "Authorization", value: "Bearer x"), (name: "Content-Length", value: "9"),
            (name: "Host", value: "elsewhere"), (name: "traceparent", value: "00-1-2-01"),
            (name: "X-Forwarded-For", value: "10.0.0.1"), (name: "X-Request-ID", value: "spoofed"),
            (name: "TE", value: "trailers"), (name: "Cookie", value: "a=b"), (name: "Grpc-Status", value: "0"),
        ])
        let kept = HeaderHygiene.forwardedTrailers(trailers)
        #expect(kept.map { Array($0).map { "\($0.name): \($0.value)" } } == ["X-Checksum: sha256-abc", "Grpc-Status: 0"])
        #expect(HeaderHygiene.forwardedTrailers(HTTPHeaders([(name: "X-User-ID", value: "admin")])) == nil)
        #expect(HeaderHygiene.forwardedTrailers(nil) == nil)
    }

    /// An upstream's response trailers reach the client only with what a trailer may carry
    /// and the gateway does not own: no cookie, caching, content description or request id.
    @Test func responseTrailersKeepOnlyWhatATrailerMayCarry() {
        let trailers = HTTPHeaders([
            (name: "X-Checksum", value: "sha256-abc"), (name: "Set-Cookie", value: "session=planted"),
            (name: "Content-Type", value: "text/html"), (name: "X-Request-ID", value: "spoofed"),
            (name: "Cache-Control", value: "no-store"), (name: "Strict-Transport-Security", value: "max-age=0"),
            (name: "Location", value: "/elsewhere"), (name: "WWW-Authenticate", value: "Basic"),
            (name: "Transfer-Encoding", value: "chunked"), (name: "Date", value: "x"), (name: "Grpc-Status", value: "0"),
            (name: "Server-Timing", value: "db;dur=53"),
        ])
        let kept = HeaderHygiene.forwardedTrailers(trailers)
        #expect(
            kept.map { Array($0).map { "\($0.name): \($0.value)" } }
                == ["X-Checksum: sha256-abc", "Grpc-Status: 0", "Server-Timing: db;dur=53"])
        #expect(HeaderHygiene.forwardedTrailers(HTTPHeaders([(name: "Set-Cookie", value: "a=b")])) == nil)
        #expect(HeaderHygiene.forwardedTrailers(nil) == nil)
        // Their announcement stays in the head when the body is chunked (and so carries them).
        let announced: HTTPHeaders = ["Trailer": "X-Checksum", "Connection": "keep-alive"]
        let chunked = HeaderHygiene.clientResponseHeaders(announced, requestID: "r", hstsMaxAge: nil, keepsTrailerField: true)
        #expect(chunked.values("trailer") == ["X-Checksum"] && !chunked.contains(name: "connection"))
        let framedOtherwise = HeaderHygiene.clientResponseHeaders(announced, requestID: "r", hstsMaxAge: nil)
        #expect(!framedOtherwise.contains(name: "trailer"))
    }

    @Test func hopByHopAndConnectionNamedFieldsGo() {
        let incoming = head([
            ("Host", "example.com"), ("Connection", "keep-alive, X-Secret, X-Request-ID, Content-Length"),
            ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "x"), ("TE", "trailers"), ("Trailer", "X"),
            ("Upgrade", "websocket"), ("Proxy-Authorization", "Basic x"), ("X-Secret", "1"), ("Accept", "*/*"),
            ("X-Request-ID", "client-id"),
        ])
        let out = HeaderHygiene.upstreamRequestHead(
            incoming, target: "/api/movies/1", peer: untrusted, requestID: "client-id", userID: nil)
        for name in ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
            "proxy-authorization", "x-secret"]
        {
            #expect(!out.headers.contains(name: name), "\(name) was forwarded")
        }
        #expect(out.headers["accept"] == "*/*")
        #expect(out.headers.values("x-request-id") == ["client-id"])
        #expect(out.headers["host"] == "example.com")
        #expect(out.target == "/api/movies/1")
        #expect(out.version == .http1_1)
    }

    /// The client's `traceparent` never reaches a service: the gateway's span replaces it;
    /// its `tracestate` goes on only when its `traceparent` was valid (the trace continues).
    @Test func traceparentIsTheGatewaysAndTracestateNeedsAValidParent() {
        let incoming = head([
            ("Host", "example.com"), ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ("tracestate", "vendor=opaque"),
        ])
        let ours = TraceContext(traceIDHigh: 0x4bf9_2f35_77b3_4da6, traceIDLow: 0xa3ce_929d_0e0e_4736, spanID: 7, flags: 1)
        let continued = HeaderHygiene.upstreamRequestHead(
            incoming, target: "/x", peer: untrusted, requestID: "r", userID: nil, trace: ours, keepsTraceState: true,
            hasClientTraceparent: true)
        #expect(continued.headers.values("traceparent") == ["00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000007-01"])
        #expect(continued.headers.values("tracestate") == ["vendor=opaque"])
        let restarted = HeaderHygiene.upstreamRequestHead(
            incoming, target: "/x", peer: untrusted, requestID: "r", userID: nil, trace: ours, keepsTraceState: false,
            hasClientTraceparent: true)
        #expect(restarted.headers.values("traceparent").count == 1)
        #expect(!restarted.headers.contains(name: "tracestate"))
    }

    @Test func forwardedFieldsAreReplacedForUntrustedPeers() {
        let incoming = head([
            ("Host", "example.com"), ("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.com"), ("Forwarded", "for=1.2.3.4"), ("X-Real-IP", "1.2.3.4"),
        ])
        let out = HeaderHygiene.upstreamRequestHead(
            incoming, target: "/x", peer: untrusted, requestID: "r", userID: nil)
        #expect(out.headers.values("x-forwarded-for") == ["203.0.113.9"])
        #expect(out.headers.values("x-forwarded-proto") == ["http"])
        #expect(out.headers.values("x-forwarded-host") == ["example.com"])
        #expect(!out.headers.contains(name: "x-real-ip"))
        #expect(!out.headers.contains(name: "forwarded"))
    }

    @Test func trustedPeersExtendTheChain() {
        let incoming = head([
            ("Host", "internal:8080"), ("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "5.6.7.8"),
            ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "api.example.com"),
        ])
        let out = HeaderHygiene.upstreamRequestHead(incoming, target: "/x", peer: trusted, requestID: "r", userID: nil)
        #expect(out.headers.values("x-forwarded-for") == ["1.2.3.4, 5.6.7.8, 10.0.0.2"])
        #expect(out.headers["x-forwarded-proto"] == "https")
        #expect(out.headers["x-forwarded-host"] == "api.example.com")
    }

    @Test func userIDComesOnlyFromTheToken() {
        let incoming = head([("Host", "h"), ("X-User-ID", "1"), ("x-user-id", "2")])
        let anonymous = HeaderHygiene.upstreamRequestHead(incoming, target: "/x", peer: untrusted, requestID: "r", userID: nil)
        #expect(!anonymous.headers.contains(name: "x-user-id"))
        let verified = HeaderHygiene.upstreamRequestHead(incoming, target: "/x", peer: untrusted, requestID: "r", userID: "42")
        #expect(verified.headers.values("x-user-id") == ["42"])
    }

    @Test func framingIsRestated() {
        let chunked = head([("Host", "h"), ("Transfer-Encoding", "chunked"), ("Expect", "100-continue")], method: .POST)
        let out = HeaderHygiene.upstreamRequestHead(chunked, target: "/x", peer: untrusted, requestID: "r", userID: nil)
        #expect(out.headers.values("transfer-encoding") == ["chunked"])
        #expect(!out.headers.contains(name: "content-length"))
        #expect(!out.headers.contains(name: "expect"))
        let sized = head([("Host", "h"), ("Content-Length", "12")], method: .PUT)
        let sizedOut = HeaderHygiene.upstreamRequestHead(sized, target: "/x", peer: untrusted, requestID: "r", userID: nil)
        #expect(sizedOut.headers.values("content-length") == ["12"])
        let empty = HeaderHygiene.upstreamRequestHead(head([("Host", "h")], method: .POST), target: "/x", peer: untrusted, requestID: "r", userID: nil)
        #expect(empty.headers.values("content-length") == ["0"])
        #expect(HeaderHygiene.framing(of: ["Content-Length": "0"]) == .none)
        // A caller that has the framing already passes it, and it is what gets stated.
        // (Here the head says nothing, so only the parameter can make the body chunked.)
        let given = HeaderHygiene.upstreamRequestHead(
            head([("Host", "h")], method: .PUT), target: "/x", peer: untrusted,
            requestID: "r", userID: nil, framing: .chunked)
        #expect(given.headers.values("transfer-encoding") == ["chunked"])
        #expect(!given.headers.contains(name: "content-length"))
    }

    @Test func responseHygiene() {
        let upstream: HTTPHeaders = [
            "Content-Type": "application/json", "Content-Length": "10", "Connection": "close, X-Hop",
            "X-Hop": "1", "Keep-Alive": "timeout=5", "Transfer-Encoding": "chunked", "Server": "uvicorn",
            "Date": "x", "X-Request-ID": "upstream-made", "X-Cache": "HIT",
        ]
        let out = HeaderHygiene.clientResponseHeaders(upstream, requestID: "ours", hstsMaxAge: nil)
        // Content-Length, Server and Date stay for the server, which writes its own instead
        // (ServerLoopbackTests: a handler's are left out).
        #expect(
            out == [
                "Content-Type": "application/json", "Content-Length": "10", "Server": "uvicorn", "Date": "x",
                "X-Cache": "HIT", "X-Request-ID": "ours",
            ])
        let https = HeaderHygiene.clientResponseHeaders(
            ["Strict-Transport-Security": "max-age=1"], requestID: "ours", hstsMaxAge: 31_536_000)
        #expect(https.values("strict-transport-security") == ["max-age=31536000"])
    }

    /// A service echoes the request id it was sent: that copy stays (once), and an id that
    /// is not ours is replaced. A usual answer holds none of the edited fields, and the
    /// walk over its lines is skipped; each edited name is seen by the filter.
    @Test func responsesKeepTheEchoOfOurIDAndSkipTheWalkWhenNothingIsEdited() {
        let echoed = HeaderHygiene.clientResponseHeaders(
            ["X-Request-ID": "ours", "Content-Type": "text/plain", "x-request-id": "ours"], requestID: "ours",
            hstsMaxAge: nil)
        #expect(Array(echoed).map(\.name) == ["X-Request-ID", "Content-Type"])
        let foreign = HeaderHygiene.clientResponseHeaders(["X-Request-ID": "theirs"], requestID: "ours", hstsMaxAge: nil)
        #expect(foreign.values("x-request-id") == ["ours"])
        let prefix = HeaderHygiene.clientResponseHeaders(["X-Request-ID": "our"], requestID: "ours", hstsMaxAge: nil)
        #expect(prefix.values("x-request-id") == ["ours"])

        let classified = [
            "te", "upgrade", "trailer", "keep-alive", "connection", "proxy-connection", "transfer-encoding",
            "proxy-authenticate", "proxy-authorization", "x-request-id", "strict-transport-security",
            "content-length", "date", "server", "host", "x-forwarded-for", "accept",
        ]
        let edited: [HeaderHygiene.FieldKind] = [.hopByHop, .requestID, .hsts]
        let listed = HeaderHygiene.FieldKind.responseEditedNames.map { $0.description.lowercased() }
        for name in classified {
            let kind = name.withContiguousUTF8 { HeaderHygiene.FieldKind.classify(UnsafeRawBufferPointer($0)) }
            #expect(listed.contains(name) == edited.contains(kind), "\(name)")
        }
        let usual: HTTPHeaders = [
            "Content-Type": "application/json", "Content-Length": "173", "Date": "x", "Server": "uvicorn",
            "X-Cache": "HIT", "Cache-Control": "no-store", "ETag": "\"1\"", "Vary": "Accept-Encoding",
        ]
        #expect(!usual.mayContainAny(of: HeaderHygiene.FieldKind.editedInResponses))
        for name in HeaderHygiene.FieldKind.responseEditedNames {
            var withIt = usual
            withIt.add(name: name.description, value: "1")
            #expect(withIt.mayContainAny(of: HeaderHygiene.FieldKind.editedInResponses), "\(name)")
        }
    }
}
