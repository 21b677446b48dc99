import HTTP

/// A ``Router`` that also tells ServiceKit which pattern matched, for logs and metrics.
///
/// The HTTP router does not expose the matched pattern, so each handler is wrapped to
/// record it in the request's ``RequestContext`` before running.
public struct ServiceRouter: Sendable {
    public private(set) var router = Router()
    /// Patterns in registration order (for the gateway's route list or docs).
    public private(set) var patterns: [String] = []
    /// Every route as registered, in order: what the OpenAPI document is checked against.
    public private(set) var routes: [(method: HTTPMethod, pattern: String)] = []

    public init() {}

    public mutating func on(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Router.Handler) {
        patterns.append(pattern)
        routes.append((method, pattern))
        router.on(method, pattern) { request in
            RequestContext.current?.route = pattern
            return try await handler(request)
        }
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Router.Handler) { on(.GET, pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping Router.Handler) { on(.POST, pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping Router.Handler) { on(.PUT, pattern, handler) }
    public mutating func patch(_ pattern: String, _ handler: @escaping Router.Handler) { on(.PATCH, pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping Router.Handler) {
        on(.DELETE, pattern, handler)
    }
}
