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

    public func respond(to request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let path = request.head.path
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [HTTPMethod] = []
        var typeError: RouteParameterError?
        for route in routes {
            switch Self.match(route.segments, segments) {
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
                    var routed = request
                    routed.parameters = parameters
                    return try await route.handler(routed)
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

    static func match(_ pattern: [Segment], _ path: [Substring]) -> Match {
        var parameters = PathParameters()
        var mismatch: RouteParameterError?
        for (index, segment) in pattern.enumerated() {
            if case .rest(let name) = segment {
                let rest = index < path.count ? path[index...].joined(separator: "/") : ""
                parameters.append(name: name, value: Substring(rest))
                return mismatch.map { .typeMismatch($0) } ?? .matched(parameters)
            }
            guard index < path.count else { return .noMatch }
            switch segment {
            case .literal(let literal):
                if path[index] != literal { return .noMatch }
            case .parameter(let name, let isInt):
                if isInt && Int(path[index]) == nil && mismatch == nil {
                    mismatch = RouteParameterError(name: name, input: String(path[index]), kind: .notAnInteger)
                }
                parameters.append(name: name, value: path[index])
            case .rest:
                preconditionFailure("handled above")
            }
        }
        guard pattern.count == path.count else { return .noMatch }
        return mismatch.map { .typeMismatch($0) } ?? .matched(parameters)
    }
}
