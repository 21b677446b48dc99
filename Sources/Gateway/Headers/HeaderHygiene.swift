#if canImport(Glibc)
import Glibc
#endif
import HTTP
import Telemetry

/// What the gateway changes in the heads it forwards, as pure functions (tested without
/// sockets).
///
/// Requests: hop-by-hop fields and those named in `Connection` go (RFC 9110 §7.6.1), but
/// never our `X-Request-ID`; framing is re-stated from what the strict parser accepted;
/// `X-Forwarded-For/-Proto/-Host` are the gateway's (a client's `Forwarded`/`X-Real-IP` dropped) unless
/// the peer is a trusted proxy; `X-User-ID` comes only from a verified token; `traceparent`
/// is the gateway's span (a client's `tracestate` kept only with a valid `traceparent`). Responses:
/// hop-by-hop fields go; framing, `Date` and `Server` are the gateway server's own.
public enum HeaderHygiene {
    /// Fields that describe one connection, never forwarded: Connection, Keep-Alive,
    /// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authorization,
    /// Proxy-Authenticate (``FieldKind/hopByHop``).

    /// Fields a `Connection` token may not remove: ours, and those we set afterwards anyway.
    static let protected: Set<String> = ["x-request-id", "host", "content-length"]

    /// The caller as the gateway saw it.
    public struct Peer: Sendable {
        /// Numeric address of the TCP peer.
        public var address: String
        /// Whether that peer is in `TRUSTED_PROXIES`.
        public var isTrusted: Bool
        /// `http` or `https`: the listener the request came in on.
        public var scheme: String

        public init(address: String, isTrusted: Bool, scheme: String) {
            self.address = address
            self.isTrusted = isTrusted
            self.scheme = scheme
        }
    }

    /// The request body's framing, from the parsed head.
    public enum BodyFraming: Sendable, Equatable {
        case none
        case length(Int)
        case chunked
    }

    /// Framing of a head the strict parser accepted (so `Transfer-Encoding`, when present,
    /// ends in `chunked` and `Content-Length` is one valid number).
    public static func framing(of headers: HTTPHeaders) -> BodyFraming {
        if headers.contains(.transferEncoding) { return .chunked }
        if let text = headers[.contentLength], let length = Int(text.trimmedSpaces) {
            return length > 0 ? .length(length) : .none
        }
        return .none
    }

    /// Trailers as the gateway passes them on, in either direction: a client's request
    /// trailers going upstream after a chunked body, and an upstream's response trailers
    /// going to the client (as HTTP/1.1 trailers or HTTP/2 trailing HEADERS). One rule serves
    /// both: only what a trailer may carry (RFC 9110 §6.5.1 rules out framing, routing,
    /// authentication, request modifiers, content description and response control data),
    /// nothing hop-by-hop, no cookie or challenge, and none of the fields the gateway owns
    /// (identity, forwarding, request id, trace, HSTS, `Date`, `Server`). Nil when none is left.
    public static func forwardedTrailers(_ trailers: HTTPHeaders?) -> HTTPHeaders? {
        guard let trailers, !trailers.isEmpty else { return nil }
        var kept = HTTPHeaders()
        trailers.forEachField { name, value in
            guard FieldKind.classify(name) == .other, !isForbiddenInTrailers(name) else { return }
            kept.add(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
        }
        return kept.isEmpty ? nil : kept
    }

    /// Names no trailer may carry beyond those `FieldKind` classifies (RFC 9110 §6.5.1),
    /// requests' and responses' together (neither direction has a use for the other's),
    /// and `traceparent` and `Idempotency-Key`, which the gateway owns.
    private static let forbiddenInTrailers: Set<String> = [
        "traceparent", "authorization", "cookie", "content-type", "content-encoding", "content-range",
        "content-location", "content-language", "cache-control", "expires", "pragma", "max-forwards", "range",
        "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "accept",
        "accept-encoding", "accept-language", "accept-charset", "user-agent", "referer", "origin", "from",
        "idempotency-key", "age", "location", "retry-after", "vary", "warning", "set-cookie", "www-authenticate",
        "authentication-info", "proxy-authentication-info", "accept-ranges", "allow", "content-disposition",
    ]

    private static func isForbiddenInTrailers(_ name: UnsafeRawBufferPointer) -> Bool {
        forbiddenInTrailers.contains(String(decoding: name, as: UTF8.self).lowercased())
    }

    /// The head to send upstream, edited in place from the client's: no field becomes a
    /// `String` (but a trusted proxy's `X-Forwarded-*` values, which are re-joined), and the
    /// storage is copied once only if the caller still shares it.
    ///
    /// - Parameters:
    ///   - head: the client's request head.
    ///   - target: the origin-form target for the upstream (the route decides it).
    ///   - peer: who sent it.
    ///   - requestID: this request's id (the client's, if valid, or a new one).
    ///   - userID: the verified token's subject, or nil when there is no valid token.
    ///   - trace: the gateway's span, sent as the upstream's parent (`traceparent`); nil
    ///     sends none (and drops the client's).
    ///   - keepsTraceState: whether the client's `traceparent` was valid (its `tracestate`
    ///     goes on only then: a state without its trace means nothing).
    ///   - hasClientTraceparent: whether the client sent a `traceparent` (the caller looked
    ///     it up already; it is not in the names filter, see ``FieldKind/requestEditedNames``).
    ///   - framing: the body's framing when the caller has it already (else read from `head`).
    public static func upstreamRequestHead(
        _ head: consuming HTTPRequestHead, target: String, peer: Peer, requestID: GatewayRequestID, userID: String?,
        trace: TraceContext? = nil, keepsTraceState: Bool = false, hasClientTraceparent: Bool = false,
        framing: BodyFraming? = nil
    ) -> HTTPRequestHead {
        var headers = head.headers
        head.headers = HTTPHeaders()  // leaves `headers` the only owner of the storage
        let hasHost = headers.contains(.host)
        let framing = framing ?? Self.framing(of: headers)
        let named = headers.contains(.connection) ? headers.connectionTokens.filter { !protected.contains($0) } : []
        var clientForwardedFor: [String] = []
        var clientProto: String?
        var clientHost: String?
        // Most requests hold none of the fields removed below: then the walk classifying
        // each line is skipped.
        if hasClientTraceparent || headers.mayContainAny(of: FieldKind.editedInRequests) {
            headers.removeAll { name, value in
                let kind = FieldKind.classify(name)
                if kind == .hopByHop || (!named.isEmpty && named.contains { HTTPHeaders.name(name, is: $0) }) {
                    return true
                }
                switch kind {
                case .contentLength, .expect, .userID, .requestID, .realIP:
                    // Framing is re-stated below; the server already answered `Expect`;
                    // identity fields are the gateway's alone.
                    return true
                case .forwarded:
                    return !peer.isTrusted
                case .traceparent:
                    return true  // replaced by the gateway's span below
                case .tracestate:
                    return !keepsTraceState
                case .forwardedFor:
                    if peer.isTrusted { clientForwardedFor.append(String(decoding: value, as: UTF8.self)) }
                    return true
                case .forwardedProto:
                    if peer.isTrusted, clientProto == nil { clientProto = String(decoding: value, as: UTF8.self) }
                    return true
                case .forwardedHost:
                    if peer.isTrusted, clientHost == nil { clientHost = String(decoding: value, as: UTF8.self) }
                    return true
                case .host, .date, .server, .hsts, .other:
                    return false
                case .hopByHop:
                    return true  // (answered above)
                }
            }
        }
        let method = head.method
        // The fields the gateway sets, appended together (one copy into the storage).
        headers.appendFields { fields in
            if !hasHost { fields.add(.host, value: "localhost") }
            switch framing {
            case .none:
                if method == .POST || method == .PUT || method == .PATCH {
                    fields.add(.contentLength, value: "0")
                }
            case .length(let length): fields.add(.contentLength, value: String(length))
            case .chunked: fields.add(.transferEncoding, value: "chunked")
            }
            if peer.isTrusted, !clientForwardedFor.isEmpty {
                fields.add(.xForwardedFor, value: clientForwardedFor.joined(separator: ", ") + ", " + peer.address)
            } else {
                fields.add(.xForwardedFor, value: peer.address)
            }
            fields.add(.xForwardedProto, value: clientProto ?? peer.scheme)
            if let clientHost {
                fields.add(.xForwardedHost, value: clientHost)
            } else if hasHost {
                fields.add(.xForwardedHost, copyingValueOf: .host)  // the client's, as bytes
            }
            requestID.add(to: &fields)
            if let userID { fields.add(.xUserID, value: userID) }
            trace?.add(to: &fields)
        }
        return HTTPRequestHead(method: method, target: target, version: .http1_1, headers: headers)
    }

    /// The upstream response's fields for the client, edited in place: hop-by-hop and
    /// `Connection`-named fields removed, our `X-Request-ID` (a service's echo of it kept,
    /// any other id replaced), and HSTS on HTTPS when configured (the upstream's replaced).
    /// Framing, `Date` and `Server` may stay: the gateway's server writes its own and leaves
    /// a handler's out (``HTTPServer``).
    /// - Parameter keepsTrailerField: keep the upstream's `Trailer` announcement (RFC 9110
    ///   §6.6.2): its body is chunked, so its trailers are passed on.
    public static func clientResponseHeaders(
        _ upstream: consuming HTTPHeaders, requestID: GatewayRequestID, hstsMaxAge: Int?, keepsTrailerField: Bool = false
    ) -> HTTPHeaders {
        var headers = consume upstream
        var hasOurID = false
        // Most upstream answers hold none of the fields edited below (our services echo the
        // request id, which is): then the walk classifying each line is skipped.
        if headers.mayContainAny(of: FieldKind.editedInResponses) {
            let named = headers.contains(.connection) ? headers.connectionTokens.filter { $0 != "x-request-id" } : []
            requestID.withBytes { ours in
                headers.removeAll { name, value in
                    switch FieldKind.classify(name) {
                    case .hopByHop: return !(keepsTrailerField && HTTPHeaders.name(name, is: "trailer"))
                    case .hsts: return true
                    case .requestID:
                        // The first copy of our own id stays; anything else is not ours.
                        if !hasOurID && Self.sameBytes(value, ours) {
                            hasOurID = true
                            return false
                        }
                        return true
                    default: return !named.isEmpty && named.contains { HTTPHeaders.name(name, is: $0) }
                    }
                }
            }
        }
        if !hasOurID { headers.appendFields { requestID.add(to: &$0) } }
        if let hstsMaxAge { headers.add(.strictTransportSecurity, value: "max-age=\(hstsMaxAge)") }
        return headers
    }
}

extension HeaderHygiene {
    /// Byte equality (a request id is compared exactly, case included).
    static func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        // Safe: both buffers hold `count` bytes and are valid during the call.
        guard let x = a.baseAddress, let y = b.baseAddress else { return true }  // both empty
        return memcmp(x, y, a.count) == 0
    }

    /// The fields the hygiene rules name, recognised without allocating (a header name is
    /// compared by length first, then byte by byte ignoring ASCII case): this runs for
    /// every field of every request and response.
    enum FieldKind: Equatable {
        case hopByHop, contentLength, expect, userID, requestID, realIP, forwarded
        case forwardedFor, forwardedProto, forwardedHost, host, date, server, hsts, traceparent, tracestate, other

        /// The names `classify` calls ``hopByHop``: both sides remove them.
        static let hopByHopNames: [HTTPFieldName] = [
            "TE", "Upgrade", "Trailer", "Keep-Alive", "Connection", "Proxy-Connection", "Transfer-Encoding",
            "Proxy-Authenticate", "Proxy-Authorization",
        ].map { HTTPFieldName($0) }

        /// Every name `classify` gives a kind that a request loses or has replaced: all but
        /// `host` and `other` (and the response-only `date`, `server`, `hsts`), and but
        /// `traceparent`, which shares its filter bit with `Authorization` (so every request
        /// with a token would walk its fields): the gateway looks it up anyway to continue the
        /// trace and says when it is there. Kept next to `classify`; HeaderHygieneTests checks
        /// the two agree.
        static let requestEditedNames: [HTTPFieldName] =
            hopByHopNames + [
                .contentLength, .expect, .xUserID, .xRequestID, HTTPFieldName("X-Real-IP"), HTTPFieldName("Forwarded"),
                .xForwardedFor, .xForwardedProto, .xForwardedHost, .tracestate,
            ]

        /// ``requestEditedNames`` as a filter.
        static let editedInRequests = HTTPFieldNameSet(requestEditedNames)

        /// Every name `classify` gives a kind that a response loses or has checked: the
        /// hop-by-hop fields, `X-Request-ID` and HSTS. HeaderHygieneTests checks it too.
        static let responseEditedNames: [HTTPFieldName] =
            hopByHopNames + [.xRequestID, .strictTransportSecurity]

        /// ``responseEditedNames`` as a filter.
        static let editedInResponses = HTTPFieldNameSet(responseEditedNames)

        static func classify(_ utf8: UnsafeRawBufferPointer) -> FieldKind {
            func matches(_ lower: StaticString) -> Bool {
                guard utf8.count == lower.utf8CodeUnitCount else { return false }
                // Safe: a StaticString's storage is immortal and `utf8CodeUnitCount` bytes long.
                let expected = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
                for index in 0..<utf8.count {
                    let byte = utf8[index]
                    let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
                    if folded != expected[index] { return false }
                }
                return true
            }
            switch utf8.count {
            case 2: return matches("te") ? .hopByHop : .other
            case 4: return matches("host") ? .host : matches("date") ? .date : .other
            case 6: return matches("expect") ? .expect : matches("server") ? .server : .other
            case 7: return matches("upgrade") || matches("trailer") ? .hopByHop : .other
            case 9:
                return matches("x-user-id") ? .userID : matches("forwarded") ? .forwarded
                    : matches("x-real-ip") ? .realIP : .other
            case 10:
                return matches("keep-alive") || matches("connection") ? .hopByHop
                    : matches("tracestate") ? .tracestate : .other
            case 11: return matches("traceparent") ? .traceparent : .other
            case 12: return matches("x-request-id") ? .requestID : .other
            case 14: return matches("content-length") ? .contentLength : .other
            case 15: return matches("x-forwarded-for") ? .forwardedFor : .other
            case 16:
                return matches("proxy-connection") ? .hopByHop : matches("x-forwarded-host") ? .forwardedHost : .other
            case 17:
                return matches("transfer-encoding") ? .hopByHop : matches("x-forwarded-proto") ? .forwardedProto : .other
            case 18: return matches("proxy-authenticate") ? .hopByHop : .other
            case 19: return matches("proxy-authorization") ? .hopByHop : .other
            case 25: return matches("strict-transport-security") ? .hsts : .other
            default: return .other
            }
        }
    }
}
