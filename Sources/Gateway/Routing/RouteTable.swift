import Glibc
import HTTP

/// Where a request goes: the seed's nginx routes (API.md), as a pure function of the
/// request target.
///
/// - `/`, `/health`, `/openapi.json`, `/docs` and `/docs/<file>`: answered by the gateway itself;
/// - `/api/users…` and `/api/auth…` → users, `/api/movies…` → movies,
///   `/api/watchlist…` → watchlist, target unchanged (the services serve the same paths);
/// - `/api/health/{users,movies,watchlist}` → that service's `/health`;
/// - anything else: a JSON 404.
///
/// A prefix matches at a segment boundary (`/api/movies`, `/api/movies/1`,
/// `/api/movies?x`), not `/api/moviesXYZ`. Targets with dot segments (`/api/users/../x`,
/// also percent-encoded) are refused with 400 rather than passed on: the gateway routes on
/// the raw path and an upstream that normalises it must not end up somewhere else.
public struct RouteTable: Sendable {
    public enum Decision: Sendable, Equatable {
        /// `GET /`: the gateway's own description.
        case root
        /// `GET /health`: the gateway's own liveness.
        case gatewayHealth
        /// `GET /openapi.json`: the API's OpenAPI document.
        case openAPIDocument
        /// `GET /docs` (`file` empty) and `/docs/<file>`: the interactive documentation.
        case docs(file: String)
        /// Forward to `service` with this origin-form target.
        case proxy(UpstreamService, target: String)
        case notFound
        /// A target the gateway will not forward (not origin-form, or dot segments).
        case badTarget
    }

    /// Prefix → service, in match order.
    static let prefixes: [(prefix: StaticString, service: UpstreamService)] = [
        ("/api/users", .users),
        ("/api/auth", .users),
        ("/api/movies", .movies),
        ("/api/watchlist", .watchlist),
    ]

    /// The routes listed by `GET /`.
    public static let advertisedRoutes: [String] = [
        "/api/users", "/api/auth", "/api/movies", "/api/watchlist",
        "/api/health/users", "/api/health/movies", "/api/health/watchlist", "/openapi.json", "/docs",
    ]

    /// The paths the gateway answers itself (`{asset}`: one of the docs page's files); every
    /// other path is a service's. The OpenAPI document lists exactly these.
    public static let ownPaths = ["/", "/health", "/openapi.json", "/docs", "/docs/{asset}"]

    public init() {}

    /// Routes `head`'s target. The upstream target is origin-form even when the client
    /// sent absolute-form (`GET http://host/api/movies`).
    public func route(_ head: HTTPRequestHead) -> Decision {
        route(target: head.target, path: head.path)
    }

    /// The same from the request's target and its path (`HTTPRequestHead.path`, which the
    /// caller has already: it is computed, not stored). Taking the two rather than the head
    /// spares the caller a copy of the head.
    public func route(target: String, path: Substring) -> Decision {
        // Origin-form, the usual case: the upstream gets the client's target as it is.
        if target.utf8.first == UInt8(ascii: "/") {
            return route(path: path, upstreamTarget: { target })
        }
        return route(path: path, query: HTTPRequestHead.query(of: target))
    }

    public func route(path: Substring, query: String?) -> Decision {
        route(path: path, upstreamTarget: { query.map { String(path) + "?" + $0 } ?? String(path) })
    }

    /// Routes on the bytes of `path`; `upstreamTarget` is asked only when proxying.
    ///
    /// One pass over the path's contiguous UTF-8, byte comparisons only, the service
    /// prefixes included: this runs for every request, and Substring's generic views would
    /// cost a call per character.
    private func route(path: Substring, upstreamTarget: () -> String) -> Decision {
        // A service prefix is only noted inside the view: the upstream target is a String
        // the caller makes, and it need not be made while the path's bytes are borrowed.
        enum PathMatch {
            case decided(Decision)
            case service(UpstreamService)
        }
        let match: PathMatch = path.withContiguousUTF8 { bytes in
            guard bytes.first == UInt8(ascii: "/") else { return .decided(.badTarget) }
            // Most paths hold neither `.` nor `%`: only those are split into segments.
            if bytes.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") }), Self.hasDotSegment(path) {
                return .decided(.badTarget)
            }
            if Self.equals(bytes, "/") { return .decided(.root) }
            if Self.equals(bytes, "/health") { return .decided(.gatewayHealth) }
            if Self.equals(bytes, "/openapi.json") { return .decided(.openAPIDocument) }
            if Self.matches(bytes, prefix: "/docs") {
                let file = bytes.count > 6 ? String(decoding: bytes[6...], as: UTF8.self) : ""
                return .decided(.docs(file: file))
            }
            if Self.starts(bytes, with: Self.healthPrefix) {
                var name = UnsafeBufferPointer(rebasing: bytes[Self.healthPrefix.utf8CodeUnitCount...])
                if name.last == UInt8(ascii: "/") { name = UnsafeBufferPointer(rebasing: name.dropLast()) }
                if Self.equals(name, "users") { return .decided(.proxy(.users, target: "/health")) }
                if Self.equals(name, "movies") { return .decided(.proxy(.movies, target: "/health")) }
                if Self.equals(name, "watchlist") { return .decided(.proxy(.watchlist, target: "/health")) }
                return .decided(.notFound)
            }
            for (prefix, service) in Self.prefixes where Self.matches(bytes, prefix: prefix) {
                return .service(service)
            }
            return .decided(.notFound)
        }
        switch match {
        case .decided(let decision): return decision
        case .service(let service): return .proxy(service, target: upstreamTarget())
        }
    }

    static let healthPrefix: StaticString = "/api/health/"

    /// When the gateway may send a `POST` again after its connection closed before any
    /// response byte (the instance may have executed it before dying).
    public enum POSTResend: Sendable, Equatable {
        /// Never: `POST /api/auth/login` (each try issues a token and counts against the
        /// login throttle) and anything unknown.
        case never
        /// With an `Idempotency-Key` (the gateway adds one when the client sent none): the
        /// service stores the key with what it creates and answers a resent request from it
        /// (`POST /api/users`, `/api/movies`, `/api/watchlist`).
        case withKey
        /// Always: `POST /api/movies/batch` only reads (a POST because the id list is long).
        case always
    }

    /// The ``POSTResend`` of a `POST` to `target` (origin-form; the query is ignored).
    public static func postResend(target: String) -> POSTResend {
        let path = target.firstIndex(of: "?").map { target[..<$0] } ?? target[...]
        switch path {
        case "/api/users", "/api/movies", "/api/watchlist": return .withKey
        case "/api/movies/batch": return .always
        default: return .never
        }
    }

    /// Whether the path `bytes` is `prefix` or continues it with a `/` (a segment boundary).
    static func matches(_ bytes: UnsafeBufferPointer<UInt8>, prefix: StaticString) -> Bool {
        guard starts(bytes, with: prefix) else { return false }
        return bytes.count == prefix.utf8CodeUnitCount || bytes[prefix.utf8CodeUnitCount] == UInt8(ascii: "/")
    }

    static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
        bytes.count == text.utf8CodeUnitCount && starts(bytes, with: text)
    }

    /// Byte-wise prefix test.
    static func starts(_ bytes: UnsafeBufferPointer<UInt8>, with prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        // Safe: a StaticString's storage is immortal and `utf8CodeUnitCount` bytes long;
        // `bytes` holds at least `count` bytes (checked above).
        guard count > 0, let base = bytes.baseAddress else { return true }
        return memcmp(base, prefix.utf8Start, count) == 0
    }

    /// Whether a segment is `.` or `..`, literally or percent-encoded (`%2e`, `.%2E`).
    /// (The router calls it only for paths holding a `.` or a `%`.)
    static func hasDotSegment(_ path: Substring) -> Bool {
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard !segment.isEmpty, segment.count <= 6 else { continue }
            // Only "." and "%2e" (any case) spell a dot; decode those and compare.
            var dots = 0
            var bytes = segment.utf8[...]
            while let first = bytes.first {
                if first == UInt8(ascii: ".") {
                    bytes = bytes.dropFirst()
                } else if bytes.count >= 3, first == UInt8(ascii: "%"),
                    bytes.dropFirst().first == UInt8(ascii: "2"),
                    bytes.dropFirst(2).first.map({ $0 | 0x20 }) == UInt8(ascii: "e")
                {
                    bytes = bytes.dropFirst(3)
                } else {
                    dots = -1
                    break
                }
                dots += 1
            }
            if dots == 1 || dots == 2 { return true }
        }
        return false
    }
}
