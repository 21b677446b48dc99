/// Field lines appended to an ``HTTPHeaders`` together (``HTTPHeaders/appendFields(_:)``):
/// each record is written into stack scratch, and the storage takes them all with one copy.
///
/// Why: appending record by record costs, per line, a scratch buffer, a copy and the
/// array's uniqueness and capacity checks, and a proxy adds half a dozen lines to every
/// request it forwards. Values are checked as ``HTTPHeaders/add(_:value:)`` checks them.
/// Records that do not fit the scratch go to a heap buffer first, in order.
public struct HTTPFieldAppender {
    private let scratch: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    /// Bytes of records in `scratch`.
    private(set) var used = 0
    /// Records written before the scratch filled up, in order (empty for a usual head).
    private(set) var spilled: [UInt8] = []
    /// The records already in the fields' storage (what ``add(_:copyingValueOf:)`` reads).
    private let existing: UnsafeRawBufferPointer
    private let existingNames: UInt64
    private(set) var fieldCount = 0
    private(set) var namesPresent: UInt64 = 0

    init(scratch: UnsafeMutableBufferPointer<UInt8>, existing: UnsafeRawBufferPointer, existingNames: UInt64) {
        // Safe: the scratch comes from `withUnsafeTemporaryAllocation` with a non-zero capacity.
        self.scratch = scratch.baseAddress!
        capacity = scratch.count
        self.existing = existing
        self.existingNames = existingNames
    }

    /// Appends `name: value`; a control byte in `value` becomes a space (and traps in debug
    /// builds), as in ``HTTPHeaders/add(name:value:)``.
    public mutating func add(_ name: HTTPFieldName, value: String) {
        value.withContiguousUTF8 { value in
            let value = UnsafeRawBufferPointer(value)
            guard HTTPByteClass.endOfFieldValue(value, from: 0) == value.count else {
                assertionFailure("HTTPHeaders: control byte in a header value")
                let sanitized = value.map { HTTPByteClass.isFieldValue($0) ? $0 : UInt8(ascii: " ") }
                return sanitized.withUnsafeBytes { append(name, copying: $0) }
            }
            append(name, copying: value)
        }
    }

    /// Appends `name` with a value of `count` token characters (letters, digits, `-`…) that
    /// `write` puts straight into the record, as our own formatters write them (a
    /// `traceparent`); such bytes cannot split a header, so they are checked in debug builds only.
    public mutating func add(_ name: HTTPFieldName, tokenValueCount count: Int, _ write: (UnsafeMutableRawBufferPointer) -> Void) {
        append(name, valueCount: count) { value in
            let value = UnsafeMutableRawBufferPointer(start: value, count: count)
            write(value)
            assert(value.allSatisfy(HTTPByteClass.isToken), "HTTPHeaders: a token value holds another byte")
        }
    }

    /// Appends `name` with a copy of the first `source` field's value among those the
    /// headers held before this append (bytes as they came in, checked then); appends
    /// nothing and returns false when there is none. How a proxy sets `X-Forwarded-Host`.
    @discardableResult
    public mutating func add(_ name: HTTPFieldName, copyingValueOf source: HTTPFieldName) -> Bool {
        guard existingNames & source.filterBit != 0,
            let found = HTTPHeaders.firstValueRange(named: source.bytes, in: existing)
        else { return false }
        append(name, copying: UnsafeRawBufferPointer(rebasing: existing[found]))
        return true
    }

    private mutating func append(_ name: HTTPFieldName, copying value: UnsafeRawBufferPointer) {
        append(name, valueCount: value.count) { target in
            // Safe: the record has room for `value.count` bytes at `target`.
            if let source = value.baseAddress { UnsafeMutableRawPointer(target).copyMemory(from: source, byteCount: value.count) }
        }
    }

    /// Writes one record (header, `name: `, the value `writeValue` fills in, CRLF).
    private mutating func append(
        _ name: HTTPFieldName, valueCount: Int, _ writeValue: (UnsafeMutablePointer<UInt8>) -> Void
    ) {
        let size = HTTPHeaders.recordSize(nameCount: name.bytes.count, valueCount: valueCount)
        if used + size > capacity {
            spilled.append(contentsOf: UnsafeBufferPointer(start: scratch, count: used))
            used = 0
        }
        if size > capacity {
            // Larger than the whole scratch (a long forwarding chain, say): on its own.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { record in
                // Safe: `record` holds `size` bytes, all written by writeRecord.
                guard let base = record.baseAddress else { return }
                Self.writeRecord(name: name.bytes, valueCount: valueCount, at: base, writeValue)
                spilled.append(contentsOf: UnsafeBufferPointer(record))
            }
        } else {
            // Safe: `scratch` has `size` bytes free at `used` (checked above).
            Self.writeRecord(name: name.bytes, valueCount: valueCount, at: scratch + used, writeValue)
            used += size
        }
        fieldCount += 1
        namesPresent |= name.filterBit
    }

    /// The record layout of ``HTTPHeaders``, its value written in place by `writeValue`.
    @inline(__always)
    private static func writeRecord(
        name: UnsafeRawBufferPointer, valueCount: Int, at base: UnsafeMutablePointer<UInt8>,
        _ writeValue: (UnsafeMutablePointer<UInt8>) -> Void
    ) {
        // Safe: the caller gives room for the whole record (`HTTPHeaders.recordSize`).
        base[0] = UInt8(truncatingIfNeeded: name.count)
        base[1] = UInt8(truncatingIfNeeded: name.count >> 8)
        base[2] = UInt8(truncatingIfNeeded: valueCount)
        base[3] = UInt8(truncatingIfNeeded: valueCount >> 8)
        base[4] = UInt8(truncatingIfNeeded: valueCount >> 16)
        base[5] = UInt8(truncatingIfNeeded: valueCount >> 24)
        var offset = HTTPHeaders.Record.headerSize
        if let start = name.baseAddress { UnsafeMutableRawPointer(base + offset).copyMemory(from: start, byteCount: name.count) }
        offset += name.count
        base[offset] = UInt8(ascii: ":")
        base[offset + 1] = UInt8(ascii: " ")
        offset += 2
        writeValue(base + offset)
        offset += valueCount
        base[offset] = UInt8(ascii: "\r")
        base[offset + 1] = UInt8(ascii: "\n")
    }
}
