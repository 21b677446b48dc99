/// Why the user service could not do something that is not a client's mistake: the
/// watchlist service refused a deletion, set-up could not reach its database.
///
/// One public struct with an extensible ``Code``, as every Marquee module has. The
/// description never holds a password, a hash, a token or SQL; errors a handler can
/// explain to a client are ServiceKit's `ServiceError`s instead.
public struct UserServiceError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case deliveryRefused, deliveryFailed, configuration, setUp
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The watchlist service answered a deletion with a status other than 2xx.
        public static let deliveryRefused = Code(.deliveryRefused)
        /// The watchlist service could not be reached or did not answer in time.
        public static let deliveryFailed = Code(.deliveryFailed)
        /// A setting that cannot work (an empty secret where one is needed, a bad URL).
        public static let configuration = Code(.configuration)
        /// Start-up could not finish (database unreachable, migrations failed).
        public static let setUp = Code(.setUp)

        public var description: String {
            switch base {
            case .deliveryRefused: "delivery refused"
            case .deliveryFailed: "delivery failed"
            case .configuration: "configuration"
            case .setUp: "set-up"
            }
        }
    }

    public let code: Code
    /// A short, secret-free reason for logs.
    public let reason: String
    public let underlying: (any Error)?
    public let file: String
    public let line: Int

    public init(_ code: Code, _ reason: String, underlying: (any Error)? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var description: String {
        guard let underlying else { return "\(code): \(reason)" }
        return "\(code): \(reason) (\(underlying))"
    }
}
