/// An optional field of a body as sent: absent, explicitly `null`, or a value.
///
/// Partial updates need all three: an absent `director` keeps the old one, `null` clears it.
public enum FieldValue<Value: Sendable>: Sendable {
    case absent
    case null
    case value(Value)

    /// The value, or nil when absent or null.
    public var value: Value? { if case .value(let v) = self { v } else { nil } }
    public var isAbsent: Bool { if case .absent = self { true } else { false } }

    /// nil when absent; `.some(nil)` when null; the value otherwise.
    public var update: Value?? {
        switch self {
        case .absent: nil
        case .null: .some(nil)
        case .value(let v): .some(v)
        }
    }
}

/// Unwraps the required fields once validation found nothing wrong, or throws the 422
/// with every issue at once.
///
/// ```swift
/// var body = JSONFields(try await request.decodeJSONObject())
/// let name = body.string("name", length: 1...100, trimming: true)
/// let email = body.email("email")
/// let (n, e) = try body.finish(name, email)
/// ```
/// - Throws: ``ServiceError`` 422 listing `issues`.
public func validated<each T>(_ issues: [ValidationIssue], _ values: repeat (each T)?) throws(ServiceError) -> (repeat each T) {
    if !issues.isEmpty { throw ServiceError.validation(issues) }
    return (repeat checkedUnwrap(each values))
}

/// A required field that reported no issue always has a value; anything else is our bug.
private func checkedUnwrap<T>(_ value: T?) -> T {
    guard let value else { preconditionFailure("a required field returned nil without a validation issue") }
    return value
}
