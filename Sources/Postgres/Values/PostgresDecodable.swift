import CLibPQ

/// A column's PostgreSQL type, by OID, with the names of the types we decode.
public struct PostgresDataType: Hashable, Sendable, CustomStringConvertible {
    public let oid: UInt32

    public static let bool = PostgresDataType(oid: 16)
    public static let name = PostgresDataType(oid: 19)
    public static let int8 = PostgresDataType(oid: 20)
    public static let int2 = PostgresDataType(oid: 21)
    public static let int4 = PostgresDataType(oid: 23)
    public static let text = PostgresDataType(oid: 25)
    public static let oidType = PostgresDataType(oid: 26)
    public static let json = PostgresDataType(oid: 114)
    public static let float4 = PostgresDataType(oid: 700)
    public static let float8 = PostgresDataType(oid: 701)
    public static let unknown = PostgresDataType(oid: 705)
    public static let bpchar = PostgresDataType(oid: 1042)
    public static let varchar = PostgresDataType(oid: 1043)
    public static let date = PostgresDataType(oid: 1082)
    public static let timestamp = PostgresDataType(oid: 1114)
    public static let timestamptz = PostgresDataType(oid: 1184)
    public static let numeric = PostgresDataType(oid: 1700)
    public static let uuid = PostgresDataType(oid: 2950)
    public static let jsonb = PostgresDataType(oid: 3802)

    public var description: String {
        switch oid {
        case 16: "bool"
        case 19: "name"
        case 20: "int8"
        case 21: "int2"
        case 23: "int4"
        case 25: "text"
        case 26: "oid"
        case 114: "json"
        case 700: "float4"
        case 701: "float8"
        case 705: "unknown"
        case 1042: "bpchar"
        case 1043: "varchar"
        case 1082: "date"
        case 1114: "timestamp"
        case 1184: "timestamptz"
        case 1700: "numeric"
        case 2950: "uuid"
        case 3802: "jsonb"
        default: "oid \(oid)"
        }
    }
}

/// Where a value being decoded comes from, for error messages.
public struct PostgresCell {
    let result: OpaquePointer
    let row: Int32
    let column: Int32
    public let dataType: PostgresDataType

    /// The column's name.
    public var columnName: String { String(cString: PQfname(result, column)) }

    /// The error for a type that does not fit.
    public func mismatch(_ expected: Any.Type) -> PostgresError {
        .typeMismatch(column: columnName, expected: "\(expected)", actual: dataType.description)
    }
}

/// A Swift type that a column decodes into, from PostgreSQL's text format.
public protocol PostgresDecodable {
    /// Decodes a non-NULL value. `bytes` are valid only during the call.
    static func decode(_ bytes: UnsafeRawBufferPointer, _ cell: PostgresCell) throws(PostgresError) -> Self
    /// Decodes NULL: an error except for optionals.
    static func decodeNull(_ cell: PostgresCell) throws(PostgresError) -> Self
}

extension PostgresDecodable {
    public static func decodeNull(_ cell: PostgresCell) throws(PostgresError) -> Self {
        throw PostgresError(
            .unexpectedNull, message: "column '\(cell.columnName)' is NULL; decode it as \(Self.self)?",
            column: cell.columnName, expectedType: "\(Self.self)", actualType: cell.dataType.description)
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ cell: PostgresCell) throws(PostgresError) -> Self {
        try Wrapped.decode(bytes, cell)
    }

    public static func decodeNull(_ cell: PostgresCell) throws(PostgresError) -> Self { nil }
}

/// Parses a decimal integer from ASCII, without making a String.
@inline(__always)
func parseInteger(_ bytes: UnsafeRawBufferPointer) -> Int64? {
    guard !bytes.isEmpty else { return nil }
    var index = 0
    var negative = false
    if bytes[0] == UInt8(ascii: "-") {
        negative = true
        index = 1
        guard bytes.count > 1 else { return nil }
    }
    var value: Int64 = 0
    while index < bytes.count {
        let digit = bytes[index] &- 48
        guard digit < 10 else { return nil }
        // Accumulate negatively so that Int64.min parses too.
        let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (next, overflow2) = times10.subtractingReportingOverflow(Int64(digit))
        if overflow1 || overflow2 { return nil }
        value = next
        index += 1
    }
    if negative { return value }
    return value == Int64.min ? nil : -value
}

extension Int64: PostgresDecodable {
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ cell: PostgresCell) throws(PostgresError) -> Int64 {
        switch cell.dataType {
        case .int2, .int4, .int8, .oidType: break
        default: throw cell.mismatch(Self.self)
        }
        guard let value = parseInteger(bytes) else {
            throw PostgresError(.protocolViolation, message: "column '\(cell.columnName)': bad integer text")
        }
        return value
    }
}

extension Int: PostgresDecodable {
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ cell: PostgresCell) throws(PostgresError) -> Int {
        do { return Int(try Int64.decode(bytes, cell)) } catch { throw error.code == .typeMismatch ? cell.mismatch(Self.self) : error }
    }
}

extension Int32: PostgresDecodable {
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ cell: PostgresCell) throws(PostgresError) -> Int32 {
        switch cell.dataType {
        case .int2, .int4: break
        default: throw cell.mismatch(Self.self)
        }
        guard let value = parseInteger(bytes), let narrow = Int32(exactly: value) else {
            throw PostgresError(.protocolViolation, message: "column '\(cell.columnName)': bad integer text")
        }
        return narrow
    }
}

extension Double: PostgresDecodable {
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ cell: PostgresCell) throws(PostgresError) -> Double {
        switch cell.dataType {
        case .float4, .float8, .numeric, .int2, .int4, .int8: break
        default: throw cell.mismatch(Self.self)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let value = Double(text) else {
                throw PostgresError(.protocolViolation, message: "column '\(cell.columnName)': bad number text")
            }
            return value
        }
    }
}

extension String: PostgresDecodable {
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ cell: PostgresCell) throws(PostgresError) -> String {
        switch cell.dataType {
        case .text, .varchar, .bpchar, .name, .unknown, .uuid, .json, .jsonb: break
        default: throw cell.mismatch(Self.self)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Bool: PostgresDecodable {
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ cell: PostgresCell) throws(PostgresError) -> Bool {
        guard cell.dataType == .bool else { throw cell.mismatch(Self.self) }
        switch bytes.first {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: throw PostgresError(.protocolViolation, message: "column '\(cell.columnName)': bad bool text")
        }
    }
}

extension PostgresTimestamp: PostgresDecodable {
    /// `timestamptz` (sent in UTC: connections set `TimeZone=UTC`); `timestamp` without a
    /// zone is read as UTC.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, _ cell: PostgresCell
    ) throws(PostgresError) -> PostgresTimestamp {
        switch cell.dataType {
        case .timestamptz:
            if let value = parse(bytes) { return value }
        case .timestamp:
            if let value = PostgresTimestamp(parsing: String(decoding: bytes, as: UTF8.self) + "Z") { return value }
        default:
            throw cell.mismatch(Self.self)
        }
        throw PostgresError(
            .protocolViolation,
            message: "column '\(cell.columnName)': cannot read timestamp '\(String(decoding: bytes, as: UTF8.self))'")
    }
}
