/// The fields of a message head or trailer section, in wire order.
///
/// Why an ordered array and not a dictionary: order is meaningful for repeated fields
/// (RFC 9110 §5.3), a proxy must forward fields as received, and a linear scan over the
/// dozen fields of a typical request is faster than hashing them. Names keep their case;
/// lookups ignore ASCII case.
public struct HTTPHeaders: Sendable, Sequence, Equatable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One field line.
    public typealias Field = (name: String, value: String)

    /// A struct rather than the `Field` tuple: arrays of tuples need runtime metadata
    /// look-ups that showed up in profiles.
    @usableFromInline
    struct Line: Sendable {
        @usableFromInline var name: String
        @usableFromInline var value: String

        @usableFromInline init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    @usableFromInline var fields: [Line]

    public init() {
        fields = []
    }

    /// Fields in the given order; names and values are not validated here (the serializer
    /// checks them, the parser only produces valid ones).
    public init(_ fields: [Field]) {
        self.fields = fields.map { Line(name: $0.name, value: $0.value) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { Line(name: $0.0, value: $0.1) }
    }

    /// Room for `capacity` fields, so that the parser appends without reallocating.
    public mutating func reserveCapacity(_ capacity: Int) {
        fields.reserveCapacity(capacity)
    }

    public struct Iterator: IteratorProtocol {
        @usableFromInline var lines: IndexingIterator<[Line]>

        @usableFromInline init(lines: IndexingIterator<[Line]>) {
            self.lines = lines
        }

        @inlinable
        public mutating func next() -> Field? {
            guard let line = lines.next() else { return nil }
            return (name: line.name, value: line.value)
        }
    }

    @inlinable
    public func makeIterator() -> Iterator {
        Iterator(lines: fields.makeIterator())
    }

    /// The number of field lines (a repeated name counts once per line).
    public var count: Int { fields.count }

    public var isEmpty: Bool { fields.isEmpty }

    /// The first value of the field `name`, or `nil`.
    public subscript(name: String) -> String? {
        for field in fields where HTTPASCII.equalsIgnoringCase(field.name, name) {
            return field.value
        }
        return nil
    }

    /// Every value of the field `name`, in order (one per field line; lists are not split).
    public func values(_ name: String) -> [String] {
        fields.compactMap { HTTPASCII.equalsIgnoringCase($0.name, name) ? $0.value : nil }
    }

    /// Whether a field `name` is present.
    public func contains(name: String) -> Bool {
        fields.contains { HTTPASCII.equalsIgnoringCase($0.name, name) }
    }

    /// Appends a field line, keeping any with the same name.
    public mutating func add(name: String, value: String) {
        fields.append(Line(name: name, value: value))
    }

    /// Replaces the first field `name` and removes the others, or appends it if absent.
    public mutating func replaceOrAdd(name: String, value: String) {
        guard let first = fields.firstIndex(where: { HTTPASCII.equalsIgnoringCase($0.name, name) }) else {
            fields.append(Line(name: name, value: value))
            return
        }
        fields[first].value = value
        var index = fields.count - 1
        while index > first {
            if HTTPASCII.equalsIgnoringCase(fields[index].name, name) { fields.remove(at: index) }
            index -= 1
        }
    }

    /// Removes every field `name`.
    public mutating func remove(name: String) {
        fields.removeAll { HTTPASCII.equalsIgnoringCase($0.name, name) }
    }

    /// The tokens of every `Connection` field, comma-split, trimmed and lowercased (RFC 9110 §7.6.1);
    /// empty list elements are dropped. A proxy removes the fields these tokens name.
    public var connectionTokens: [String] {
        var tokens: [String] = []
        for value in values("connection") {
            for token in HTTPASCII.lowercasedListElements(value) where !token.isEmpty {
                tokens.append(token)
            }
        }
        return tokens
    }

    /// Whether a `Connection` field lists `token` (lower case), without allocating: this runs
    /// for every request.
    func connectionContains(_ token: StaticString) -> Bool {
        for field in fields where HTTPASCII.equalsIgnoringCase(field.name, "connection") {
            if HTTPASCII.listContains(field.value, lowercase: token) { return true }
        }
        return false
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public var description: String {
        "[" + fields.map { "\($0.name): \($0.value)" }.joined(separator: ", ") + "]"
    }
}
