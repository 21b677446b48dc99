/// Why the gateway could not start or be configured.
///
/// One public struct with an extensible ``Code``, as every Marquee module has. Errors
/// while proxying never surface as this type: they become JSON 4xx/5xx responses.
public struct GatewayError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidSetting, invalidUpstreamsFile, unknownFlag, helpRequested
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A setting (environment variable or flag) has a value that does not parse.
        public static let invalidSetting = Code(.invalidSetting)
        /// `UPSTREAMS_FILE` cannot be read or has a malformed line.
        public static let invalidUpstreamsFile = Code(.invalidUpstreamsFile)
        /// A command-line flag that the gateway does not know.
        public static let unknownFlag = Code(.unknownFlag)
        /// `--help` was given: print ``GatewayConfiguration/helpText`` and exit 0.
        public static let helpRequested = Code(.helpRequested)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// What was wrong, naming the setting (never a secret's value).
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
