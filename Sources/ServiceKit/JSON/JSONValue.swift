/// A parsed JSON document.
///
/// Numbers keep their kind: an integer literal that fits in `Int64` stays `.int` (ids and
/// years must not pass through a `Double`), anything with a fraction, an exponent or a
/// magnitude beyond `Int64` is `.double`.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The name pydantic would use for the value's type in messages, and ours in logs.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { o } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var isNull: Bool { self == .null }

    /// The value as an integer: `.int`, or a `.double` with no fractional part in range.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded(.towardZero) == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    /// The value as a number (`.int` widens).
    public var doubleValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    public subscript(key: String) -> JSONValue? { objectValue?[key] }
}

/// A JSON object: keys in document order, lookups by key.
///
/// Duplicate keys: the last value wins and keeps the first key's position, as in Python's
/// `json.loads` (what the FastAPI seed did). Small objects (request bodies) are searched
/// linearly; past 16 keys an index keeps a hostile 1 MiB body of keys linear in time.
public struct JSONObject: Sendable, Equatable, Sequence {
    public typealias Element = (key: String, value: JSONValue)

    private var entries: [(key: String, value: JSONValue)] = []
    private var index: [String: Int]?

    public init() {}

    public init(_ pairs: KeyValuePairs<String, JSONValue>) {
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var keys: [String] { entries.map(\.key) }

    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { entries[$0].value } }
        set {
            if let at = position(of: key) {
                if let newValue { entries[at].value = newValue } else { remove(at: at) }
            } else if let newValue {
                entries.append((key, newValue))
                if index != nil {
                    index?[key] = entries.count - 1
                } else if entries.count > 16 {
                    var built: [String: Int] = [:]
                    for (i, entry) in entries.enumerated() { built[entry.key] = i }
                    index = built
                }
            }
        }
    }

    private mutating func remove(at position: Int) {
        entries.remove(at: position)
        if index != nil {
            var built: [String: Int] = [:]
            for (i, entry) in entries.enumerated() { built[entry.key] = i }
            index = built
        }
    }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        return entries.firstIndex { $0.key == key }
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> { entries.makeIterator() }

    /// Equal when they hold the same keys with equal values, in any order (JSON objects
    /// are unordered, RFC 8259 §4).
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.entries.count == rhs.entries.count && lhs.entries.allSatisfy { rhs[$0.key] == $0.value }
    }
}
