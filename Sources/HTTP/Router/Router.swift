#if canImport(Glibc)
import Glibc
#endif

/// Routes requests by method and path pattern to handlers.
///
/// Patterns are literal segments and `{name}` or `{name:int}` parameters:
/// `/api/movies/{id:int}`. A path that matches no pattern is a JSON 404; one that matches
/// only for other methods is a 405 with `Allow`. A trailing slash is ignored. Routes are
/// added at start-up, then the router is read-only and shared by every loop.
public struct Router: HTTPResponder {
    public typealias Handler = @Sendable (HTTPServerRequest) async throws -> HTTPServerResponse

    private struct Route: Sendable {
        let method: HTTPMethod
        let segments: [Segment]
        let handler: Handler
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String, isInt: Bool)
        /// `{name...}`: the rest of the path, possibly empty (the gateway's prefixes).
        case rest(String)
    }

    private var routes: [Route] = []
    /// Answer for unknown paths; the gateway and services both want `{"detail":"Not Found"}`.
    public var notFound: Handler = { _ in throw HTTPError(.notFound, detail: "Not Found") }

    public init() {}

    /// Adds a route. Traps on a malformed pattern: patterns are our own constants.
    public mutating func on(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        routes.append(Route(method: method, segments: Self.parse(pattern), handler: handler))
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { on(.GET, pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping Handler) { on(.POST, pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping Handler) { on(.PUT, pattern, handler) }
    public mutating func patch(_ pattern: String, _ handler: @escaping Handler) { on(.PATCH, pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { on(.DELETE, pattern, handler) }

    static func parse(_ pattern: String) -> [Segment] {
        pattern.split(separator: "/", omittingEmptySubsequences: true).map { raw in
            guard raw.first == "{", raw.last == "}" else { return .literal(String(raw)) }
            let inner = raw.dropFirst().dropLast()
            if inner.hasSuffix("...") { return .rest(String(inner.dropLast(3))) }
            let parts = inner.split(separator: ":", maxSplits: 1)
            precondition(!parts.isEmpty, "empty parameter in route pattern \(pattern)")
            precondition(parts.count == 1 || parts[1] == "int", "unknown parameter type in \(pattern)")
            return .parameter(String(parts[0]), isInt: parts.count == 2)
        }
    }

    public func respond(to request: consuming HTTPServerRequest) async throws -> HTTPServerResponse {
        let path = request.head.path
        var allowed: [HTTPMethod] = []
        var typeError: RouteParameterError?
        for route in routes {
            switch Self.match(route.segments, path) {
            case .noMatch:
                continue
            case .typeMismatch(let error):
                typeError = typeError ?? error
                if route.method == request.method || (request.method == .HEAD && route.method == .GET) {
                    continue
                }
                allowed.append(route.method)
            case .matched(let parameters):
                if route.method == request.method || (request.method == .HEAD && route.method == .GET) {
                    request.parameters = parameters
                    return try await route.handler(request)
                }
                allowed.append(route.method)
            }
        }
        if let typeError { throw typeError }
        if !allowed.isEmpty {
            var unique: [String] = []
            for method in allowed where !unique.contains(method.rawValue) { unique.append(method.rawValue) }
            throw HTTPError(.methodNotAllowed, detail: "Method Not Allowed", headers: ["Allow": unique.joined(separator: ", ")])
        }
        return try await notFound(request)
    }

    enum Match {
        case noMatch
        case typeMismatch(RouteParameterError)
        case matched(PathParameters)
    }

    /// Matches `path` against one route's segments, walking the path in place: routing a
    /// request allocates nothing unless a `{rest...}` spans a doubled slash.
    static func match(_ pattern: [Segment], _ path: Substring) -> Match {
        var parameters = PathParameters()
        var mismatch: RouteParameterError?
        var segments = PathSegments(path)
        for segment in pattern {
            if case .rest(let name) = segment {
                parameters.append(name: name, value: segments.rest())
                return mismatch.map { .typeMismatch($0) } ?? .matched(parameters)
            }
            guard let part = segments.next() else { return .noMatch }
            switch segment {
            case .literal(let literal):
                if !Self.bytesEqual(part, literal) { return .noMatch }
            case .parameter(let name, let isInt):
                if isInt && Int(part) == nil && mismatch == nil {
                    mismatch = RouteParameterError(name: name, input: String(part), kind: .notAnInteger)
                }
                parameters.append(name: name, value: part)
            case .rest:
                preconditionFailure("handled above")
            }
        }
        guard segments.next() == nil else { return .noMatch }
        return mismatch.map { .typeMismatch($0) } ?? .matched(parameters)
    }
}

extension Router {
    /// Byte equality, as paths are compared: no Unicode normalisation (and none of its cost).
    static func bytesEqual(_ part: Substring, _ literal: String) -> Bool {
        guard part.utf8.count == literal.utf8.count else { return false }
        return part.withContiguousUTF8 { a in
            literal.withContiguousUTF8 { b in
                // Safe: both buffers hold `count` bytes and live for this closure.
                guard let x = a.baseAddress, let y = b.baseAddress else { return true }  // both empty
                return memcmp(x, y, a.count) == 0
            }
        }
    }
}

/// The non-empty `/`-separated segments of a path, as slices of it (`//a///b/` is `a`, `b`).
struct PathSegments: IteratorProtocol {
    private let path: Substring
    /// Bytes of `path` already walked.
    private var offset = 0

    init(_ path: Substring) {
        self.path = path
    }

    mutating func next() -> Substring? {
        guard let (start, end) = Self.segment(in: path, from: offset) else {
            offset = path.utf8.count
            return nil
        }
        offset = end
        // UTF-8 offsets become indices in O(1) for native strings; both fall next to a `/`
        // or an end, so they are scalar boundaries.
        let utf8 = path.utf8
        let lower = utf8.index(utf8.startIndex, offsetBy: start)
        return path[lower..<utf8.index(lower, offsetBy: end - start)]
    }

    /// The byte range of the first non-empty segment at or after `offset`, if any.
    private static func segment(in path: Substring, from offset: Int) -> (Int, Int)? {
        path.withContiguousUTF8 { bytes in
            var start = offset
            while start < bytes.count, bytes[start] == UInt8(ascii: "/") { start += 1 }
            guard start < bytes.count else { return nil }
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "/") { end += 1 }
            return (start, end)
        }
    }

    /// The segments not yet returned, joined by single slashes (empty when none are left).
    /// A slice of the path when it has no doubled slash there, which is the usual case.
    mutating func rest() -> Substring {
        guard let first = next() else { return "" }
        var end = first.endIndex
        var normalized: String?  // built only once a doubled slash shows up
        while let segment = next() {
            if normalized == nil, path.utf8.index(after: end) != segment.startIndex {
                normalized = String(path[first.startIndex..<end])
            }
            normalized?.append("/")
            normalized?.append(contentsOf: segment)
            end = segment.endIndex
        }
        return normalized.map { Substring($0) } ?? path[first.startIndex..<end]
    }
}
