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
    /// for others this throws a 422 in FastAPI's shape.
    public func int(_ name: String) throws -> Int {
        guard let raw = self[name] else {
            throw RouteParameterError(name: name, input: "", kind: .missing)
        }
        guard let value = Int(raw) else { throw RouteParameterError(name: name, input: String(raw), kind: .notAnInteger) }
        return value
    }
}

/// A path parameter that does not have its declared type: 422 with FastAPI's body
/// `{"detail": [{"loc": ["path", name], "msg": ..., "type": "int_parsing", "input": ...}]}`
/// (`greater_than` with `"ctx": {"gt": 0}` for an id that is not positive).
public struct RouteParameterError: HTTPResponseError {
    public enum Kind: Sendable { case missing, notAnInteger, notPositive }
    public let name: String
    public let input: String
    public let kind: Kind

    public var status: HTTPStatus { .unprocessableEntity }

    public var jsonBody: [UInt8] {
        var out = Array(#"{"detail":[{"loc":["path","#.utf8)
        JSONText.appendString(name, to: &out)
        switch kind {
        case .missing:
            out.append(contentsOf: Array(#"],"msg":"Field required","type":"missing"}]}"#.utf8))
        case .notAnInteger:
            out.append(contentsOf: Array(#"],"msg":"Input should be a valid integer, unable to parse string as an integer","type":"int_parsing","input":"#.utf8))
            JSONText.appendString(input, to: &out)
            out.append(contentsOf: Array("}]}".utf8))
        case .notPositive:
            out.append(contentsOf: Array(#"],"msg":"Input should be greater than 0","type":"greater_than","input":"#.utf8))
            JSONText.appendString(input, to: &out)
            out.append(contentsOf: Array(#","ctx":{"gt":0}}]}"#.utf8))
        }
        return out
    }
}
