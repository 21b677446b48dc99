/// An answer the HTTP layer gives by itself: a request it cannot read or serve (malformed,
/// too large, too slow, no route), or a handler that failed without saying how to answer.
///
/// It says what went wrong, not how to word it: the server's ``HTTPErrorRenderer`` turns it
/// into a body (plain text unless the configuration names another). The server, the request
/// body and the ``Router`` throw it; a responder that catches it renders it in its own shape.
public struct HTTPServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why the request gets this answer.
    public enum Reason: Hashable, Sendable {
        /// The parser refused the request (the status is the parse error's).
        case malformedRequest(HTTPParseError)
        /// The head did not arrive whole within the header timeout.
        case headerTimeout
        /// The head outgrew the read buffer (request line plus the header limit).
        case headerTooLarge
        /// An HTTP/2 request's decoded field list passed the header limit.
        case headerListTooLarge
        /// The body broke its framing after the handler had started.
        case malformedBody
        /// A piece of the body did not arrive within the body timeout.
        case bodyTimeout
        /// The body is longer than allowed (`limit` bytes, when the limit is the handler's).
        case bodyTooLarge(limit: Int?)
        /// A draining server closed a connection before it read any of the next request.
        case shuttingDown
        /// The handler failed with an error that names no response.
        case handlerFailed
        /// No route matches the path.
        case notFound
        /// Routes match the path for other methods only (named in `Allow`).
        case methodNotAllowed(allowed: [HTTPMethod])
        /// A path parameter does not have its route's type.
        case invalidPathParameter(PathParameterIssue)
        /// A method this server does not implement (HTTP/2's CONNECT).
        case methodNotImplemented(String)
        /// An HTTP/2 request whose `:scheme` is neither `http` nor `https`.
        case unsupportedScheme
    }

    public let reason: Reason

    public init(_ reason: Reason) {
        self.reason = reason
    }

    public var status: HTTPStatus {
        switch reason {
        case .malformedRequest(let error): return error.status
        case .headerTimeout, .bodyTimeout, .shuttingDown: return .requestTimeout
        case .headerTooLarge, .headerListTooLarge: return .requestHeaderFieldsTooLarge
        case .malformedBody, .unsupportedScheme: return .badRequest
        case .bodyTooLarge: return .payloadTooLarge
        case .handlerFailed: return .internalServerError
        case .notFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .invalidPathParameter: return .unprocessableEntity
        case .methodNotImplemented: return HTTPStatus(code: 501)
        }
    }

    /// Fields the answer must carry whatever its body: `Allow` for a 405.
    public var headers: HTTPHeaders {
        guard case .methodNotAllowed(let allowed) = reason else { return [:] }
        var names: [String] = []
        for method in allowed where !names.contains(method.rawValue) { names.append(method.rawValue) }
        return ["Allow": names.joined(separator: ", ")]
    }

    /// One line of English for a person reading the answer; never the peer's bytes, except
    /// the path parameter a client sent.
    public var message: String {
        switch reason {
        case .malformedRequest(let error): return "Malformed request: \(error.code)"
        case .headerTimeout: return "Request header timeout"
        case .headerTooLarge: return "Request header too large"
        case .headerListTooLarge: return "Request header fields too large"
        case .malformedBody: return "Malformed request body"
        case .bodyTimeout: return "Request body timeout"
        case .bodyTooLarge(let limit?): return "Request body too large (limit \(limit) bytes)"
        case .bodyTooLarge(nil): return "Request body too large"
        case .shuttingDown: return "Server shutting down: no request read on this connection"
        case .handlerFailed: return "Internal Server Error"
        case .notFound: return "Not Found"
        case .methodNotAllowed: return "Method Not Allowed"
        case .invalidPathParameter(let issue): return "Path parameter \(issue.name): \(issue.message)"
        case .methodNotImplemented(let method): return "\(method) is not supported"
        case .unsupportedScheme: return "Unsupported scheme"
        }
    }

    public var description: String { "\(status.code) \(message)" }

    public static let notFound = HTTPServerError(.notFound)
    public static let handlerFailed = HTTPServerError(.handlerFailed)
}
