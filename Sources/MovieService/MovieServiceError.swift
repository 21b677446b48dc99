/// What the movie service itself can fail with (the drivers and ServiceKit have their own).
///
/// One public struct with an extensible ``Code``, as every Marquee module has.
/// `description` never holds SQL, values or bodies.
public struct MovieServiceError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case unexpectedResult, invalidConfiguration }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The database answered in a shape our queries never produce (our bug).
        public static let unexpectedResult = Code(.unexpectedResult)
        /// A setting is not usable (a URL that does not parse).
        public static let invalidConfiguration = Code(.invalidConfiguration)

        public var description: String {
            switch base {
            case .unexpectedResult: "unexpected result"
            case .invalidConfiguration: "invalid configuration"
            }
        }
    }

    public let code: Code
    public let message: String
    public let file: String
    public let line: Int

    public init(_ code: Code, message: String = "", file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { message.isEmpty ? "movie service: \(code)" : "movie service: \(code): \(message)" }
}
