import HTTP

/// The `name=value` pairs of a query string, percent-decoded (`+` is a space, as in
/// forms). A repeated name: the last value wins, as Starlette's `query_params[...]` does.
public struct QueryParameters: Sendable {
    public private(set) var pairs: [(name: String, value: String)] = []

    public init(_ query: String?) {
        guard let query, !query.isEmpty else { return }
        for piece in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = piece.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            pairs.append((name, value))
        }
    }

    public init(_ request: HTTPServerRequest) { self.init(request.head.query) }

    public subscript(name: String) -> String? { pairs.last { $0.name == name }?.value }

    /// Percent-decoding; a malformed escape is kept literally, invalid UTF-8 repaired.
    static func decode(_ bytes: Substring.UTF8View.SubSequence) -> String {
        decode(Array(bytes))
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> String { decode(Array(bytes)) }

    static func decode(_ bytes: [UInt8]) -> String {
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: b - 0x30
            case 0x41...0x46: b - 0x41 + 10
            case 0x61...0x66: b - 0x61 + 10
            default: nil
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(0x20)
            } else if byte == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 2
            } else {
                out.append(byte)
            }
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Reads and validates query (or path) parameters, which arrive as text, collecting
/// every problem as FastAPI does: `["query", "limit"]` with `int_parsing` and so on.
public struct ParameterFields: Sendable {
    public let parameters: QueryParameters
    public private(set) var issues: [ValidationIssue] = []
    private let location: String

    public init(query request: HTTPServerRequest) {
        self.parameters = QueryParameters(request)
        self.location = "query"
    }

    public init(_ parameters: QueryParameters, location: String = "query") {
        self.parameters = parameters
        self.location = location
    }

    public mutating func report(_ kind: ValidationIssue.Kind, at name: String, message: String, input: JSONValue? = nil,
                                context: JSONObject? = nil) {
        issues.append(ValidationIssue(kind, location: [.key(location), .key(name)], message: message, input: input,
                                      context: context))
    }

    public func finish<each T>(_ values: repeat (each T)?) throws(ServiceError) -> (repeat each T) {
        try validated(issues, repeat each values)
    }

    /// An integer parameter with a default (nil without a default means required),
    /// within `range`.
    public mutating func int(_ name: String, default defaultValue: Int64? = nil, range: ClosedRange<Int64>? = nil)
        -> Int64?
    {
        guard let text = parameters[name] else {
            if defaultValue == nil { report(.missing, at: name, message: Messages.missing) }
            return defaultValue
        }
        guard let value = Self.parseInt(text) else {
            report(.intParsing, at: name, message: Messages.intParsing, input: .string(text))
            return nil
        }
        if let range {
            if value < range.lowerBound {
                report(.greaterThanEqual, at: name, message: "Input should be greater than or equal to \(range.lowerBound)",
                       input: .string(text), context: JSONObject(["ge": .int(range.lowerBound)]))
                return nil
            }
            if value > range.upperBound {
                report(.lessThanEqual, at: name, message: "Input should be less than or equal to \(range.upperBound)",
                       input: .string(text), context: JSONObject(["le": .int(range.upperBound)]))
                return nil
            }
        }
        return value
    }

    /// An optional text parameter, with length bounds.
    public mutating func string(_ name: String, length: ClosedRange<Int>? = nil) -> FieldValue<String> {
        guard let text = parameters[name] else { return .absent }
        if text.utf8.contains(0) {
            report(.stringNUL, at: name, message: Messages.stringNUL)
            return .absent
        }
        if let length {
            let count = text.unicodeScalars.count
            if count < length.lowerBound {
                report(.stringTooShort, at: name, message: Messages.stringTooShort(length.lowerBound),
                       input: .string(text), context: JSONObject(["min_length": .int(Int64(length.lowerBound))]))
                return .absent
            }
            if count > length.upperBound {
                report(.stringTooLong, at: name, message: Messages.stringTooLong(length.upperBound),
                       input: .string(text), context: JSONObject(["max_length": .int(Int64(length.upperBound))]))
                return .absent
            }
        }
        return .value(text)
    }

    /// pydantic's integer-from-string rules: optional sign, digits, surrounding spaces
    /// allowed, `_` separators not.
    static func parseInt(_ text: String) -> Int64? {
        let trimmed = JSONFields.trimmed(text)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 20 else { return nil }
        return Int64(trimmed)
    }
}
