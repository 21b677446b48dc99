import HTTP

/// One request a virtual user sends: everything the executor needs, already rendered.
///
/// The body is pre-encoded bytes so that the hot path never touches JSON, and `endpoint`
/// is the label the figures are grouped by (`GET /api/movies/{id}`), not the concrete path.
public struct LoadRequest: Sendable {
    public var method: HTTPMethod
    /// Origin-form path and query, appended to the target URL's base path.
    public var path: String
    public var body: [UInt8]
    /// Extra header fields (authorization, content type); `Host` and `Content-Length` are added.
    public var headers: HTTPHeaders
    /// Index into the run's endpoint table (see ``Endpoint``).
    public var endpoint: Endpoint
    /// Whether the executor keeps the response body and head (seeding, probes); load runs don't.
    public var collectBody: Bool

    public init(
        method: HTTPMethod, path: String, body: [UInt8] = [], headers: HTTPHeaders = [:],
        endpoint: Endpoint = .other, collectBody: Bool = false
    ) {
        self.method = method
        self.path = path
        self.body = body
        self.headers = headers
        self.endpoint = endpoint
        self.collectBody = collectBody
    }

    /// A JSON request with its content type set.
    public static func json(
        _ method: HTTPMethod, _ path: String, _ json: String, endpoint: Endpoint = .other, collectBody: Bool = false
    ) -> LoadRequest {
        LoadRequest(
            method: method, path: path, body: Array(json.utf8),
            headers: ["Content-Type": "application/json"], endpoint: endpoint, collectBody: collectBody)
    }
}
