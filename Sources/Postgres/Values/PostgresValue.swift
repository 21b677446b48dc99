/// A query parameter. Queries are parameterized only (`$1`, `$2`, ...): values never become
/// part of the SQL text. Every value is sent in PostgreSQL's text format and the server
/// infers its type from the context, so cast where the context is ambiguous (`$1::int8`).
public enum PostgresValue: Sendable, Hashable {
    case int(Int)
    case double(Double)
    case text(String)
    case bool(Bool)
    case timestamp(PostgresTimestamp)
    case null
    /// An array of integers, sent as `{1,2,3}`: for `WHERE id = ANY($1)`.
    case intArray([Int])

    /// The value's text form, or nil for NULL.
    var textForm: String? {
        switch self {
        case .int(let value): String(value)
        case .double(let value):
            if value.isNaN {
                "NaN"
            } else if value.isInfinite {
                value < 0 ? "-Infinity" : "Infinity"
            } else {
                "\(value)"  // Swift prints the shortest text that reads back exactly
            }
        case .text(let value): value
        case .bool(let value): value ? "t" : "f"
        case .timestamp(let value): value.rfc3339
        case .null: nil
        case .intArray(let values): "{" + values.map(String.init).joined(separator: ",") + "}"
        }
    }
}

extension PostgresValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByNilLiteral
{
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .null }
}

/// One SQL statement and its parameters: the unit a pipeline sends. One statement per SQL
/// string (the extended protocol refuses several).
public struct PostgresStatement: Sendable, Hashable {
    public var sql: String
    public var parameters: [PostgresValue]

    public init(_ sql: String, _ parameters: [PostgresValue] = []) {
        self.sql = sql
        self.parameters = parameters
    }
}

/// The parameters of one statement as NUL-terminated C strings in one buffer.
struct EncodedParameters: Sendable {
    private var bytes: [UInt8] = []
    /// Offsets into `bytes`, or -1 for NULL.
    private var offsets: [Int] = []

    init(_ values: [PostgresValue]) throws(PostgresError) {
        offsets.reserveCapacity(values.count)
        for (index, value) in values.enumerated() {
            guard let text = value.textForm else {
                offsets.append(-1)
                continue
            }
            offsets.append(bytes.count)
            let start = bytes.count
            bytes.append(contentsOf: text.utf8)
            if bytes[start...].contains(0) {
                throw PostgresError(.invalidParameter, message: "parameter $\(index + 1) contains a NUL byte")
            }
            bytes.append(0)
        }
    }

    var count: Int { offsets.count }

    /// Calls `body` with the array of pointers `PQsendQueryParams` wants; the pointers are
    /// valid only inside `body` (they point into this value's buffer).
    func withPointers<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        if offsets.isEmpty { return body(nil) }
        return bytes.withUnsafeBufferPointer { buffer in
            // Scoped: `buffer` lives until this closure returns, and so do the pointers into it.
            let base = UnsafeRawPointer(buffer.baseAddress)
            let pointers: [UnsafePointer<CChar>?] = offsets.map { offset in
                guard offset >= 0, let base else { return nil }
                return (base + offset).assumingMemoryBound(to: CChar.self)
            }
            return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
