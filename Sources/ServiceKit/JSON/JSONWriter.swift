// The fuzz stage compiles these files alone, with JSONText.swift in the same module.
#if canImport(Telemetry)
import Telemetry
#endif

/// Writes JSON text straight into a byte buffer, placing commas by itself.
///
/// ```swift
/// var json = JSONWriter()
/// json.object {
///     $0.field("id", 7)
///     $0.field("title", "Inception")
///     $0.field("rating", 8.8)            // 8.8, as Python prints it
/// }
/// return .json(.ok, json.bytes)
/// ```
/// Doubles are written as Python's `repr` writes them (the shortest text that reads back
/// to the same value, with `.0` on integral values: `9.0`), which is what FastAPI sent for
/// float fields. Non-finite doubles, which JSON cannot carry, become `null`.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8]
    /// True when the next value or key needs a comma before it.
    private var needsComma = false

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Writes after `prefix` (bytes that are not JSON, such as a cache value's header), so
    /// that the JSON needs no copy to be stored behind it.
    public init(after prefix: [UInt8]) {
        bytes = prefix
    }

    // MARK: Structure

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes an object whose members `body` writes.
    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        beginObject()
        body(&self)
        endObject()
    }

    /// Writes an array whose elements `body` writes.
    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        beginArray()
        body(&self)
        endArray()
    }

    /// Writes a member name; the next value written is its value.
    public mutating func key(_ name: String) {
        separate()
        Self.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    // MARK: Values

    public mutating func null() {
        separate()
        bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
    }

    public mutating func value(_ string: String) {
        separate()
        Self.appendString(string, to: &bytes)
    }

    public mutating func value(_ int: Int64) {
        separate()
        Self.appendInt(int, to: &bytes)
    }

    public mutating func value(_ int: Int) { value(Int64(int)) }

    public mutating func value(_ double: Double) {
        separate()
        guard double.isFinite else {
            bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
            return
        }
        // Swift's description is the shortest round-trip form and matches Python's repr
        // (8.8 → "8.8", 9.0 → "9.0", 1e16 → "1e+16", 1e-05 → "1e-05").
        bytes.append(contentsOf: double.description.utf8)
    }

    public mutating func value(_ bool: Bool) {
        separate()
        bytes.append(contentsOf: bool ? Array("true".utf8) : Array("false".utf8))
    }

    public mutating func value(_ json: JSONValue) {
        switch json {
        case .null: null()
        case .bool(let b): value(b)
        case .int(let i): value(i)
        case .double(let d): value(d)
        case .string(let s): value(s)
        case .array(let elements):
            beginArray()
            for element in elements { value(element) }
            endArray()
        case .object(let object):
            beginObject()
            for (name, member) in object {
                key(name)
                value(member)
            }
            endObject()
        }
    }

    /// A value that writes itself.
    public mutating func value(_ encodable: some JSONEncodable) { encodable.encode(to: &self) }

    /// An RFC 3339 UTC timestamp with `Z` (see ``Timestamp``).
    public mutating func value(_ timestamp: Timestamp) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        timestamp.append(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Already-encoded JSON, inserted as one value (a cached movie's bytes, say).
    public mutating func raw(_ json: some Collection<UInt8>) {
        separate()
        bytes.append(contentsOf: json)
    }

    /// ``raw(_:)`` for a slice, the common case, without generic dispatch across modules.
    public mutating func raw(_ json: ArraySlice<UInt8>) {
        separate()
        bytes.append(contentsOf: json)
    }

    /// A member name encoded once (``JSONKey``), appended whole: lists write the same few
    /// names on every element.
    public mutating func key(_ key: JSONKey) {
        separate()
        bytes.append(contentsOf: key.encoded)
        needsComma = false
    }

    /// A member name already written as JSON string content (the bytes between its quotes,
    /// escapes as they are); the next value written is its value.
    public mutating func rawKey(_ text: ArraySlice<UInt8>) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: text)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    // MARK: Members (key + value)

    public mutating func field(_ name: String, _ string: String) { key(name); value(string) }
    public mutating func field(_ name: String, _ int: Int64) { key(name); value(int) }
    public mutating func field(_ name: String, _ int: Int) { key(name); value(int) }
    public mutating func field(_ name: String, _ double: Double) { key(name); value(double) }
    public mutating func field(_ name: String, _ bool: Bool) { key(name); value(bool) }
    public mutating func field(_ name: String, _ json: JSONValue) { key(name); value(json) }
    public mutating func field(_ name: String, _ timestamp: Timestamp) { key(name); value(timestamp) }
    public mutating func field(_ name: String, _ encodable: some JSONEncodable) { key(name); value(encodable) }

    /// `name: null` when `optional` is nil.
    public mutating func field(_ name: String, _ optional: String?) {
        key(name)
        if let optional { value(optional) } else { null() }
    }

    public mutating func field(_ name: String, _ optional: Int64?) {
        key(name)
        if let optional { value(optional) } else { null() }
    }

    public mutating func field(_ name: String, _ optional: Double?) {
        key(name)
        if let optional { value(optional) } else { null() }
    }

    public mutating func field(_ name: String, _ optional: Timestamp?) {
        key(name)
        if let optional { value(optional) } else { null() }
    }

    // MARK: Primitives

    /// Appends `string` as a JSON string literal (``JSONText/appendString(_:to:)``).
    @inline(__always)
    public static func appendString(_ string: String, to out: inout [UInt8]) {
        JSONText.appendString(string, to: &out)
    }

    /// Appends the decimal digits of `value`, written in place (no scratch buffer).
    public static func appendInt(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var count = 1
        var limit: UInt64 = 10
        while count < 20 && magnitude >= limit {
            count += 1
            limit &*= 10
        }
        let start = out.count
        out.append(contentsOf: repeatElement(0x30, count: count))
        var index = start + count - 1
        while magnitude > 0 {
            out[index] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 0x30
            magnitude /= 10
            index -= 1
        }
    }
}

/// A type that writes itself as JSON (models: users, movies, entries).
public protocol JSONEncodable {
    func encode(to json: inout JSONWriter)
}

extension JSONEncodable {
    /// The encoded bytes, for a response body.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        encode(to: &writer)
        return writer.bytes
    }
}

extension JSONValue {
    /// The value as compact JSON text.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        writer.value(self)
        return writer.bytes
    }

    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }
}

/// A member name as the writer puts it, `"name":`, encoded once (for ``JSONWriter/key(_:)-(JSONKey)``).
public struct JSONKey: Sendable {
    /// The quoted, escaped name and its colon.
    let encoded: [UInt8]

    public init(_ name: String) {
        var encoded: [UInt8] = []
        JSONWriter.appendString(name, to: &encoded)
        encoded.append(UInt8(ascii: ":"))
        self.encoded = encoded
    }
}
