/// Reads and validates the fields of a JSON body, collecting every problem before
/// failing, as FastAPI does.
///
/// Strict types, by decision (see API notes in the report/README): a number in quotes
/// (`"year": "2010"`) is an `int_type` error, unlike pydantic's lax mode; a JSON number
/// with no fractional part (`2010.0`) is accepted for an integer field and an integer for
/// a float field, because JSON itself does not tell them apart. Unknown fields are ignored.
///
/// Required readers return nil when they recorded an issue; optional readers return a
/// ``FieldValue``. Finish with ``finish(_:)``, which throws the 422 listing everything.
public struct JSONFields: Sendable {
    public let object: JSONObject
    public private(set) var issues: [ValidationIssue] = []
    private let prefix: [ValidationIssue.LocationElement]

    /// - Parameter location: `["body"]` for a request body.
    public init(_ object: JSONObject, location: [ValidationIssue.LocationElement] = ["body"]) {
        self.object = object
        self.prefix = location
    }

    /// Records an issue of the service's own (a cross-field rule, say).
    public mutating func report(_ issue: ValidationIssue) { issues.append(issue) }

    /// Records an issue at field `name`.
    public mutating func report(
        _ kind: ValidationIssue.Kind, at name: String, message: String, input: JSONValue? = nil,
        context: JSONObject? = nil
    ) {
        issues.append(ValidationIssue(kind, location: prefix + [.key(name)], message: message, input: input,
                                      context: context))
    }

    /// Throws the 422 when any issue was recorded, else unwraps the required values.
    public func finish<each T>(_ values: repeat (each T)?) throws(ServiceError) -> (repeat each T) {
        try validated(issues, repeat each values)
    }

    /// Whether any field in `names` is present (for "any non-empty subset" updates).
    public func containsAny(of names: [String]) -> Bool { names.contains { object[$0] != nil } }

    // MARK: Strings

    /// A required string; `length` counts Unicode scalars (Python's `len`) after trimming
    /// when `trimming` is set, and the trimmed string is returned.
    /// - Parameter sensitive: never echo the value in `input` (passwords).
    public mutating func string(
        _ name: String, length: ClosedRange<Int>? = nil, trimming: Bool = false, sensitive: Bool = false
    ) -> String? {
        guard let raw = object[name] else {
            report(.missing, at: name, message: Messages.missing)
            return nil
        }
        return checkString(name, raw, length: length, trimming: trimming, sensitive: sensitive)
    }

    /// An optional string; `nullable` says whether `null` is allowed (else a `string_type` issue).
    public mutating func optionalString(
        _ name: String, length: ClosedRange<Int>? = nil, trimming: Bool = false, nullable: Bool = false,
        sensitive: Bool = false
    ) -> FieldValue<String> {
        guard let raw = object[name] else { return .absent }
        if raw == .null && nullable { return .null }
        return checkString(name, raw, length: length, trimming: trimming, sensitive: sensitive).map { .value($0) }
            ?? .absent
    }

    /// A required email address (≤ 254 characters), trimmed; `value_error` when malformed.
    public mutating func email(_ name: String) -> String? {
        guard let text = string(name, trimming: true) else { return nil }
        return checkEmail(name, text)
    }

    public mutating func optionalEmail(_ name: String) -> FieldValue<String> {
        guard case .value(let text) = optionalString(name, trimming: true) else { return .absent }
        return checkEmail(name, text).map { .value($0) } ?? .absent
    }

    private mutating func checkEmail(_ name: String, _ text: String) -> String? {
        if let reason = EmailAddress.problem(text) {
            report(.valueError, at: name, message: "value is not a valid email address: \(reason)",
                   input: .string(text), context: JSONObject(["reason": .string(reason)]))
            return nil
        }
        return text
    }

    private mutating func checkString(
        _ name: String, _ raw: JSONValue, length: ClosedRange<Int>?, trimming: Bool, sensitive: Bool
    ) -> String? {
        guard case .string(var text) = raw else {
            report(.stringType, at: name, message: Messages.stringType, input: sensitive ? nil : raw)
            return nil
        }
        // PostgreSQL's text cannot hold U+0000, and no name, title or address needs one.
        if text.utf8.contains(0) {
            report(.stringNUL, at: name, message: Messages.stringNUL)
            return nil
        }
        if trimming { text = Self.trimmed(text) }
        if let length {
            let count = text.unicodeScalars.count
            let input: JSONValue? = sensitive ? nil : .string(text)
            if count < length.lowerBound {
                report(.stringTooShort, at: name, message: Messages.stringTooShort(length.lowerBound), input: input,
                       context: JSONObject(["min_length": .int(Int64(length.lowerBound))]))
                return nil
            }
            if count > length.upperBound {
                report(.stringTooLong, at: name, message: Messages.stringTooLong(length.upperBound), input: input,
                       context: JSONObject(["max_length": .int(Int64(length.upperBound))]))
                return nil
            }
        }
        return text
    }

    /// `text` without leading and trailing white space (Python's `str.strip()`).
    public static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isPythonSpace($0) }),
            let last = scalars.lastIndex(where: { !isPythonSpace($0) })
        else { return "" }
        return String(scalars[first...last])
    }

    /// Python's `str.isspace()`: Unicode's White_Space characters plus the four separators
    /// U+001C–U+001F, so that what the OpenAPI document's `\S` patterns call blank (a
    /// validator in Python reads them) is what the services trim away.
    static func isPythonSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }

    // MARK: Numbers and booleans

    /// A required integer within `range`.
    public mutating func int(_ name: String, range: ClosedRange<Int64>? = nil) -> Int64? {
        guard let raw = object[name] else {
            report(.missing, at: name, message: Messages.missing)
            return nil
        }
        return checkInt(name, raw, range: range)
    }

    public mutating func optionalInt(_ name: String, range: ClosedRange<Int64>? = nil, nullable: Bool = false)
        -> FieldValue<Int64>
    {
        guard let raw = object[name] else { return .absent }
        if raw == .null && nullable { return .null }
        return checkInt(name, raw, range: range).map { .value($0) } ?? .absent
    }

    private mutating func checkInt(_ name: String, _ raw: JSONValue, range: ClosedRange<Int64>?) -> Int64? {
        let value: Int64
        switch raw {
        case .int(let i): value = i
        case .double(let d):
            guard let i = raw.intValue else {
                report(d.isFinite && d.rounded(.towardZero) != d ? .intFromFloat : .intType, at: name,
                       message: d.rounded(.towardZero) != d ? Messages.intFromFloat : Messages.intType, input: raw)
                return nil
            }
            value = i
        default:
            report(.intType, at: name, message: Messages.intType, input: raw)
            return nil
        }
        if let range {
            if value < range.lowerBound {
                report(.greaterThanEqual, at: name, message: "Input should be greater than or equal to \(range.lowerBound)",
                       input: raw, context: JSONObject(["ge": .int(range.lowerBound)]))
                return nil
            }
            if value > range.upperBound {
                report(.lessThanEqual, at: name, message: "Input should be less than or equal to \(range.upperBound)",
                       input: raw, context: JSONObject(["le": .int(range.upperBound)]))
                return nil
            }
        }
        return value
    }

    /// A required number within `range` (integers widen).
    public mutating func double(_ name: String, range: ClosedRange<Double>? = nil) -> Double? {
        guard let raw = object[name] else {
            report(.missing, at: name, message: Messages.missing)
            return nil
        }
        return checkDouble(name, raw, range: range)
    }

    public mutating func optionalDouble(_ name: String, range: ClosedRange<Double>? = nil, nullable: Bool = false)
        -> FieldValue<Double>
    {
        guard let raw = object[name] else { return .absent }
        if raw == .null && nullable { return .null }
        return checkDouble(name, raw, range: range).map { .value($0) } ?? .absent
    }

    private mutating func checkDouble(_ name: String, _ raw: JSONValue, range: ClosedRange<Double>?) -> Double? {
        guard let value = raw.doubleValue else {
            report(.floatType, at: name, message: Messages.floatType, input: raw)
            return nil
        }
        if let range {
            if value < range.lowerBound {
                report(.greaterThanEqual, at: name,
                       message: "Input should be greater than or equal to \(range.lowerBound)", input: raw,
                       context: JSONObject(["ge": .double(range.lowerBound)]))
                return nil
            }
            if value > range.upperBound {
                report(.lessThanEqual, at: name, message: "Input should be less than or equal to \(range.upperBound)",
                       input: raw, context: JSONObject(["le": .double(range.upperBound)]))
                return nil
            }
        }
        return value
    }

    public mutating func bool(_ name: String) -> Bool? {
        guard let raw = object[name] else {
            report(.missing, at: name, message: Messages.missing)
            return nil
        }
        guard case .bool(let value) = raw else {
            report(.boolType, at: name, message: Messages.boolType, input: raw)
            return nil
        }
        return value
    }

    // MARK: Lists

    /// A required list of integers: `count` bounds the length (`too_short`/`too_long`),
    /// `range` each element (reported at `[..., name, index]`).
    public mutating func intList(_ name: String, count: ClosedRange<Int>? = nil, range: ClosedRange<Int64>? = nil)
        -> [Int64]?
    {
        guard let raw = object[name] else {
            report(.missing, at: name, message: Messages.missing)
            return nil
        }
        guard case .array(let elements) = raw else {
            report(.listType, at: name, message: Messages.listType, input: raw)
            return nil
        }
        if let count {
            let context = { (key: String, bound: Int) in
                JSONObject(["field_type": .string("List"), .init(stringLiteral: key): .int(Int64(bound)),
                            "actual_length": .int(Int64(elements.count))])
            }
            if elements.count < count.lowerBound {
                report(.tooShort, at: name, message: Messages.listTooShort(count.lowerBound, actual: elements.count),
                       input: raw, context: context("min_length", count.lowerBound))
                return nil
            }
            if elements.count > count.upperBound {
                // No `input` here: echoing a 100 000-element list back is what an attacker wants.
                report(.tooLong, at: name, message: Messages.listTooLong(count.upperBound, actual: elements.count),
                       context: context("max_length", count.upperBound))
                return nil
            }
        }
        var values: [Int64] = []
        values.reserveCapacity(elements.count)
        var element = JSONFields(JSONObject(), location: prefix + [.key(name)])
        for (index, item) in elements.enumerated() {
            // The usual element needs no checking beyond this (and no name for an issue).
            if case .int(let value) = item, range?.contains(value) ?? true {
                values.append(value)
            } else if let value = element.checkInt(String(index), item, range: range) {
                values.append(value)
            }
        }
        // Re-key the element issues with integer indexes, as pydantic does (`["body","ids",2]`).
        for var issue in element.issues {
            if case .key(let key)? = issue.location.last, let index = Int(key) {
                issue.location[issue.location.count - 1] = .index(index)
            }
            issues.append(issue)
        }
        return element.issues.isEmpty ? values : nil
    }
}
