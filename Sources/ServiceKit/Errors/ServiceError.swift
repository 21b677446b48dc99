import HTTP

/// An error a handler throws to answer with a FastAPI-shaped `{"detail": ...}` response.
///
/// One public struct with an extensible ``Code``, as every Marquee module has. Build them
/// with the static helpers: `throw ServiceError.notFound("Movie")`,
/// `throw ServiceError.conflict("Email already registered")`.
/// `description` is what logs see and never holds a body, a password or SQL.
public struct ServiceError: JSONResponseError, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let status: Int
        private let name: String
        private init(_ status: Int, _ name: String) {
            self.status = status
            self.name = name
        }

        public static let badRequest = Code(400, "bad request")
        public static let unauthorized = Code(401, "unauthorized")
        public static let forbidden = Code(403, "forbidden")
        public static let notFound = Code(404, "not found")
        public static let conflict = Code(409, "conflict")
        public static let payloadTooLarge = Code(413, "payload too large")
        public static let unsupportedMediaType = Code(415, "unsupported media type")
        public static let validation = Code(422, "validation")
        public static let tooManyRequests = Code(429, "too many requests")
        /// nginx's 499: the client went away before its answer (never sent; logs and metrics).
        public static let clientClosedRequest = Code(499, "client closed request")
        public static let internalError = Code(500, "internal error")
        public static let badGateway = Code(502, "bad gateway")
        public static let serviceUnavailable = Code(503, "service unavailable")
        public static let gatewayTimeout = Code(504, "gateway timeout")

        public var description: String { name }
    }

    public let code: Code
    /// The `detail` string (unused for validation errors, whose detail is the issue list).
    public let detail: String
    public let issues: [ValidationIssue]
    public let headers: HTTPHeaders

    public init(_ code: Code, detail: String, issues: [ValidationIssue] = [], headers: HTTPHeaders = [:]) {
        self.code = code
        self.detail = detail
        self.issues = issues
        self.headers = headers
    }

    public var status: HTTPStatus { HTTPStatus(code: code.status) }

    public var jsonBody: [UInt8] {
        var json = JSONWriter(capacity: 64)
        json.object { body in
            body.key("detail")
            if code == .validation {
                body.array { list in for issue in issues { list.value(issue) } }
            } else {
                body.value(detail)
            }
        }
        return json.bytes
    }

    public var description: String {
        code == .validation ? "422 validation: \(issues.map(\.locationText).joined(separator: ", "))"
            : "\(code.status) \(detail)"
    }

    // MARK: The common cases

    /// 404 `"<Entity> not found"`: `notFound("User")`, `notFound("Watchlist entry")`.
    public static func notFound(_ entity: String) -> ServiceError {
        ServiceError(.notFound, detail: "\(entity) not found")
    }

    public static func conflict(_ detail: String) -> ServiceError { ServiceError(.conflict, detail: detail) }

    public static func badRequest(_ detail: String) -> ServiceError { ServiceError(.badRequest, detail: detail) }

    /// 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3).
    public static func unauthorized(_ detail: String = "Not authenticated") -> ServiceError {
        ServiceError(.unauthorized, detail: detail, headers: ["WWW-Authenticate": "Bearer"])
    }

    public static func forbidden(_ detail: String = "Not allowed") -> ServiceError {
        ServiceError(.forbidden, detail: detail)
    }

    /// 429 with `Retry-After` in whole seconds (at least 1).
    public static func tooManyRequests(retryAfter seconds: Int, detail: String = "Too many requests") -> ServiceError {
        ServiceError(.tooManyRequests, detail: detail, headers: ["Retry-After": String(max(1, seconds))])
    }

    /// 503 naming what is down: `serviceUnavailable("Database unavailable")`.
    public static func serviceUnavailable(_ detail: String) -> ServiceError {
        ServiceError(.serviceUnavailable, detail: detail)
    }

    public static func gatewayTimeout(_ detail: String) -> ServiceError { ServiceError(.gatewayTimeout, detail: detail) }

    public static func badGateway(_ detail: String) -> ServiceError { ServiceError(.badGateway, detail: detail) }

    /// 422 with FastAPI's list form.
    public static func validation(_ issues: [ValidationIssue]) -> ServiceError {
        ServiceError(.validation, detail: "Validation failed", issues: issues)
    }

    /// 499: what a handler cancelled because its client went away answers. Nobody reads
    /// it; it keeps such requests out of the 5xx counts and the error log.
    public static let clientClosedRequest = ServiceError(.clientClosedRequest, detail: "Client Closed Request")

    /// 500 with a generic detail: what unknown errors become.
    public static let internalError = ServiceError(.internalError, detail: "Internal Server Error")
}
