/// The load generator's one error type, with an extensible ``Code`` as every Marquee module has.
public struct LoadTestError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidArgument, invalidSLO, unreachable, badResponse, notSupported
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A command-line value that cannot be used (URL, duration, mix).
        public static let invalidArgument = Code(.invalidArgument)
        /// An `--slo` expression that does not parse.
        public static let invalidSLO = Code(.invalidSLO)
        /// A server (target, metrics, Redis) could not be reached.
        public static let unreachable = Code(.unreachable)
        /// A server answered something we could not use.
        public static let badResponse = Code(.badResponse)
        /// Asked for something this build cannot do yet (HTTPS before TLS is wired).
        public static let notSupported = Code(.notSupported)

        public var description: String {
            switch base {
            case .invalidArgument: "invalid argument"
            case .invalidSLO: "invalid SLO expression"
            case .unreachable: "unreachable"
            case .badResponse: "bad response"
            case .notSupported: "not supported"
            }
        }
    }

    public let code: Code
    /// A sentence for a person: what was wrong and, where possible, what would be right.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
