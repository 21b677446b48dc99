import HTTP
import Logging
import Telemetry

/// Confirms a token with the user service: `GET {USER_SERVICE_URL}/api/auth/me` with the
/// caller's own `Authorization`, which the user service answers from its database (200 with
/// the user's current `role` only while the token's version is the user's current one).
///
/// Used by the movie and watchlist services before an admin right is granted; a call per
/// admin request, which are rare (movie writes, "who added this movie"), never per read.
public struct RemoteTokenConfirmer: TokenConfirmer {
    public let client: HTTPClient
    public let origin: HTTPOrigin
    public let pathPrefix: String
    public let timeout: Duration
    /// Where a failed confirmation says why (the client only sees 503 "User service unavailable").
    public let logger: Logger?

    /// - Returns: nil when `userServiceURL` is not an `http(s)://host[:port][/path]` URL.
    public init?(client: HTTPClient, userServiceURL: String, timeout: Duration = .seconds(3), logger: Logger? = nil) {
        guard let (origin, target) = HTTPOrigin.split(url: userServiceURL), !target.contains("?") else { return nil }
        var prefix = target
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.client = client
        self.origin = origin
        self.pathPrefix = prefix
        self.timeout = timeout
        self.logger = logger
    }

    static let unavailable = ServiceError.serviceUnavailable("User service unavailable")

    public func currentRole(of caller: AuthContext, authorization: String) async throws(ServiceError) -> UserRole? {
        var headers: HTTPHeaders = ["Authorization": authorization, "Accept": "application/json"]
        if let context = RequestContext.current {
            headers.add(.xRequestID, value: context.requestID)
            context.injectTrace(into: &headers)
        }
        let request = HTTPClientRequest(method: .GET, origin: origin, target: pathPrefix + "/api/auth/me", headers: headers)
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw failed(because: String(describing: error))
        }
        switch response.status.code {
        case 200:
            guard let user = try? JSONParser.parse(response.body), user["id"]?.intValue == caller.userID,
                let role = user["role"]?.stringValue.flatMap(UserRole.init(rawValue:))
            else { throw failed(because: "200 without this user's id and role") }
            return role
        case 401:
            return nil
        default:
            throw failed(because: "status \(response.status.code)")
        }
    }

    /// Logs why a confirmation failed and returns the error the caller answers with.
    private func failed(because cause: String) -> ServiceError {
        logger?.warning(
            "token confirmation failed", metadata: ["upstream": .string(origin.host), "cause": .string(cause)])
        return Self.unavailable
    }
}
