/// A decoded Redis (RESP2) reply.
///
/// Bulk strings stay bytes (`[UInt8]`): values are binary-safe and only the caller knows
/// whether they are text. Error replies inside arrays (from `EXEC` or scripts) appear as
/// ``error(_:)``; a top-level error reply is thrown as ``RedisError/Code/server`` instead.
public enum RedisValue: Sendable, Hashable {
    /// A nil bulk string or nil array (`$-1`, `*-1`): a missing key.
    case null
    /// A bulk string, as bytes.
    case string([UInt8])
    /// A simple status reply (`+OK`, `+PONG`).
    case status(String)
    case integer(Int)
    case array([RedisValue])
    /// An error reply nested in an array.
    case error(String)

    /// The bytes of a bulk string, or the UTF-8 of a status; nil otherwise.
    public var bytes: [UInt8]? {
        switch self {
        case .string(let bytes): bytes
        case .status(let text): Array(text.utf8)
        default: nil
        }
    }

    /// A bulk string or status as text (invalid UTF-8 is repaired); nil otherwise.
    public var text: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    /// The value of an integer reply; nil otherwise.
    public var integer: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The elements of an array reply; nil otherwise.
    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var isNull: Bool { self == .null }
}

extension RedisValue: CustomStringConvertible {
    /// A short shape, never the content (values may be private data).
    public var description: String {
        switch self {
        case .null: "null"
        case .string(let bytes): "string(\(bytes.count) bytes)"
        case .status(let text): "status(\(text))"
        case .integer(let value): "integer(\(value))"
        case .array(let values): "array(\(values.count))"
        case .error: "error"
        }
    }
}
