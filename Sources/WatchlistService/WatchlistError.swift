import HTTP
import ServiceKit

/// Why a call to the user or movie service failed, and the response that stands for it.
///
/// One public struct with an extensible ``Code``, as every Marquee module has. The
/// `detail` always names the upstream, so that a client (and an operator reading the
/// access log) can tell which dependency is in trouble:
/// - ``Code/unavailable`` → 503 `"Movie service unavailable"`: no connection could be made
///   (refused, connect timeout, every pooled connection busy for too long), or the service
///   said 503 itself;
/// - ``Code/timedOut`` → 504 `"Movie service timed out"`: the request went out and no
///   complete answer came back within `UPSTREAM_TIMEOUT`;
/// - ``Code/badResponse`` → 502 `"Movie service returned an invalid response"`: it closed
///   the connection mid-answer, broke HTTP, answered with a status or body we cannot use;
/// - ``Code/credentialsRefused`` → 401 `"Invalid authentication credentials"`: the user
///   service refused the caller's own token, which the check forwarded (revoked since it
///   was issued: a password or email change, a deletion). The caller's problem, not a 502.
public struct WatchlistError: JSONResponseError, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unavailable, timedOut, badResponse, credentialsRefused, invalidConfiguration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        public var description: String { base.rawValue }

        /// The upstream could not be reached (503).
        public static let unavailable = Code(.unavailable)
        /// The upstream did not answer in time (504).
        public static let timedOut = Code(.timedOut)
        /// The upstream answered with something unusable (502).
        public static let badResponse = Code(.badResponse)
        /// The upstream refused the caller's forwarded token (401).
        public static let credentialsRefused = Code(.credentialsRefused)
        /// A setting the service cannot use (an upstream URL it cannot call); set-up only.
        public static let invalidConfiguration = Code(.invalidConfiguration)
    }

    public let code: Code
    /// The upstream's display name: `"User service"`, `"Movie service"`.
    public let upstream: String
    /// The client error or the unexpected status behind this one (for logs only).
    public let underlying: (any Error)?
    public let file: String
    public let line: Int

    public init(
        _ code: Code, upstream: String, underlying: (any Error)? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.upstream = upstream
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var status: HTTPStatus {
        switch code {
        case .unavailable: .serviceUnavailable
        case .timedOut: .gatewayTimeout
        case .badResponse: .badGateway
        case .credentialsRefused: .unauthorized
        default: .internalServerError
        }
    }

    /// The `detail` text: it names the upstream.
    public var detail: String {
        switch code {
        case .unavailable: "\(upstream) unavailable"
        case .timedOut: "\(upstream) timed out"
        case .badResponse: "\(upstream) returned an invalid response"
        case .credentialsRefused: "Invalid authentication credentials"
        default: "Internal Server Error"
        }
    }

    public var headers: HTTPHeaders {
        code == .credentialsRefused ? ["WWW-Authenticate": "Bearer"] : [:]
    }

    public var jsonBody: [UInt8] {
        var json = JSONWriter(capacity: 64)
        json.object { $0.field("detail", detail) }
        return json.bytes
    }

    public var description: String { "WatchlistError(\(code), \(upstream))" }

    public var debugDescription: String {
        "WatchlistError(\(code), \(upstream)\(underlying.map { ", underlying: \($0)" } ?? ""), at \(file):\(line))"
    }
}

/// What made an upstream's answer unusable (the `underlying` of a ``WatchlistError``; for
/// logs only).
struct UnusableAnswer: Error, CustomStringConvertible {
    let description: String

    /// A status the watchlist service has no use for (500, 401, a 404 from the batch...).
    static func status(_ code: Int) -> UnusableAnswer { UnusableAnswer(description: "unexpected status \(code)") }

    /// A body that is not what the endpoint promises.
    static let malformedBody = UnusableAnswer(description: "malformed body")
}
