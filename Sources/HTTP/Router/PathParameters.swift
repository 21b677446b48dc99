/// The values a route's `{name}` segments matched, already checked against their type.
public struct PathParameters: Sendable {
    private var values: [(name: String, value: Substring)] = []

    public init() {}

    mutating func append(name: String, value: Substring) { values.append((name, value)) }

    /// The raw text of parameter `name`.
    public subscript(name: String) -> Substring? {
        values.first(where: { $0.name == name })?.value
    }

    /// Parameter `name` as an integer. Routes declared with `{name:int}` guarantee it parses;
    /// for others this throws a 422 (``HTTPServerError/Reason/invalidPathParameter(_:)``).
    public func int(_ name: String) throws(HTTPServerError) -> Int {
        guard let raw = self[name] else {
            throw HTTPServerError(.invalidPathParameter(PathParameterIssue(name: name, input: "", kind: .missing)))
        }
        guard let value = Int(raw) else {
            let issue = PathParameterIssue(name: name, input: String(raw), kind: .notAnInteger)
            throw HTTPServerError(.invalidPathParameter(issue))
        }
        return value
    }
}

/// A path parameter that does not have its declared type: which one, what the client sent,
/// and what is wrong with it.
public struct PathParameterIssue: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// The route has no such parameter.
        case missing
        /// Declared `{name:int}` or `{name:id}`, and not an integer.
        case notAnInteger
        /// Declared `{name:id}`, and an integer that is not positive.
        case notPositive
    }

    public let name: String
    public let input: String
    public let kind: Kind

    public init(name: String, input: String, kind: Kind) {
        self.name = name
        self.input = input
        self.kind = kind
    }

    /// What is wrong, in the words pydantic uses.
    public var message: String {
        switch kind {
        case .missing: return "Field required"
        case .notAnInteger: return "Input should be a valid integer, unable to parse string as an integer"
        case .notPositive: return "Input should be greater than 0"
        }
    }
}
