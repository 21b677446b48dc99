/// The fields of a message head or trailer section, in wire order.
///
/// Why an ordered list and not a dictionary: order is meaningful for repeated fields
/// (RFC 9110 §5.3), a proxy must forward fields as received, and a linear scan over the
/// dozen fields of a typical head is faster than hashing them. Names keep their case;
/// lookups ignore ASCII case.
///
/// Storage: one byte array holding every field line as it goes on the wire
/// (`name: value` CRLF), each after a six-byte record header with the name's and the value's
/// lengths. Why bytes and not `String`s: a parsed head becomes one allocation and one copy per
/// line (a `String` per long name or value, and the array of them, would be most of a
/// proxied request's allocations), a head is written by copying each line whole, lookups compare
/// bytes, and a proxy's header hygiene edits the list in place. `String`s are made only when
/// a caller asks for one.
///
/// Every line in storage is valid: the parser appends only what it accepted, and ``add(name:value:)``
/// checks what our own code adds (see there). Values the parser accepted keep their bytes
/// exactly, `obs-text` included; reading one as a `String` repairs invalid UTF-8 with U+FFFD.
public struct HTTPHeaders: Sendable, Sequence, Equatable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One field line.
    public typealias Field = (name: String, value: String)

    /// The records, back to back: `[name length: UInt16 LE][value length: UInt32 LE]name: value\r\n`.
    @usableFromInline var storage: [UInt8]
    /// The number of field lines (a repeated name counts once per line).
    public private(set) var count: Int
    /// Which names are present, as a one-hash Bloom filter: each line sets the bit that its
    /// name's length and lowercased first and last bytes pick (``nameBit(_:)``). Why: most look-ups on
    /// a request's path are for fields it does not have (`Connection`, `Transfer-Encoding`,
    /// `Expect`, `X-Request-ID`, `Authorization`...); a clear bit answers those without
    /// walking the lines. Always exact for `storage` (removals recompute it), so a set bit
    /// may be another name's but a clear bit is never wrong.
    private var namesPresent: UInt64

    public init() {
        storage = []
        count = 0
        namesPresent = 0
    }

    /// The filter bit of a field name; names equal ignoring ASCII case get the same bit.
    @inline(__always)
    static func nameBit(_ name: UnsafeRawBufferPointer) -> UInt64 {
        // `| 0x20` lowercases a letter and maps any other byte the same way on both sides.
        let first = UInt64((name.first ?? 0) | 0x20)
        let last = UInt64((name.last ?? 0) | 0x20)
        // Multiplicative hashing; six bits of the middle pick the bit. That slice was chosen
        // so that no field a request's path looks up and usually lacks shares a bit with the
        // fields heads usually have (HTTPMessageTests checks the two lists), and so that the
        // fields a client's request usually has share none with those the gateway removes
        // from it (HeaderHygieneTests checks that).
        let mixed = (UInt64(name.count) &* 0x9E37_79B9_7F4A_7C15) ^ (first &* 0xC2B2_AE3D_27D4_EB4F) ^ (last &* 0x1656_67B1_9E37_79F9)
        return 1 << ((mixed >> 38) & 63)
    }

    /// Whether a line named `name` may be present (false: it certainly is not).
    @inline(__always)
    func mayContain(_ name: UnsafeRawBufferPointer) -> Bool {
        namesPresent & Self.nameBit(name) != 0
    }

    /// Fields in the given order, checked as ``add(name:value:)`` checks them.
    public init(_ fields: [Field]) {
        self.init()
        for field in fields { add(name: field.name, value: field.value) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init()
        for (name, value) in elements { add(name: name, value: value) }
    }

    /// Room for about `capacity` more fields of a typical size, so that appending does not
    /// reallocate.
    public mutating func reserveCapacity(_ capacity: Int) {
        reserveBytes(capacity * 48)
    }

    /// Room for `byteCount` more bytes of records.
    mutating func reserveBytes(_ byteCount: Int) {
        storage.reserveCapacity(storage.count + byteCount)
    }

    public var isEmpty: Bool { count == 0 }

    // MARK: Reading

    public struct Iterator: IteratorProtocol {
        let storage: [UInt8]
        var offset = 0

        public mutating func next() -> Field? {
            guard offset < storage.count else { return nil }
            let (field, end) = storage.withUnsafeBytes { [offset] bytes in
                let record = Record(at: offset, in: bytes)
                let field = (name: HTTPASCII.string(record.name(in: bytes)), value: HTTPASCII.string(record.value(in: bytes)))
                return (field, record.end)
            }
            offset = end
            return field
        }
    }

    public func makeIterator() -> Iterator {
        Iterator(storage: storage)
    }

    /// Calls `body` with each field's name and value bytes, in order. The buffers are valid
    /// only during the call; this makes no `String`s (the way hot paths read fields).
    public func forEachField(
        _ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        try storage.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let record = Record(at: offset, in: bytes)
                try body(record.name(in: bytes), record.value(in: bytes))
                offset = record.end
            }
        }
    }

    /// The first value of the field `name`, or `nil`.
    public subscript(name: String) -> String? {
        name.withContiguousUTF8 { wanted in
            withFirstValue(named: UnsafeRawBufferPointer(wanted)) { $0.map(HTTPASCII.string) }
        }
    }

    /// The first value of the field `name`, or `nil`.
    public subscript(name: HTTPFieldName) -> String? {
        withFirstValue(named: name.bytes, filterBit: name.filterBit) { $0.map(HTTPASCII.string) }
    }

    /// Calls `body` with the bytes of the first value of the field `name`, or with nil; the
    /// buffer is valid only during the call (a hot path's read without a `String`). Not
    /// generic, so that another module's call needs no unspecialized generic code.
    public func readFirstValue(_ name: HTTPFieldName, _ body: (UnsafeRawBufferPointer?) -> Void) {
        withFirstValue(named: name.bytes, filterBit: name.filterBit, body)
    }

    /// Calls `body` with the first value of the field `name` (case ignored), or with nil.
    func withFirstValue<Result>(
        named name: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> Result
    ) rethrows -> Result {
        try withFirstValue(named: name, filterBit: Self.nameBit(name), body)
    }

    /// The same, for a name whose ``nameBit(_:)`` the caller has.
    @inline(__always)
    func withFirstValue<Result>(
        named name: UnsafeRawBufferPointer, filterBit: UInt64, _ body: (UnsafeRawBufferPointer?) throws -> Result
    ) rethrows -> Result {
        guard namesPresent & filterBit != 0 else { return try body(nil) }
        return try storage.withUnsafeBytes { bytes in
            try body(Self.firstValueRange(named: name, in: bytes).map { UnsafeRawBufferPointer(rebasing: bytes[$0]) })
        }
    }

    /// Where in `bytes` (a storage's) the first value of the field `name` lies, or nil.
    @inline(__always)
    static func firstValueRange(named name: UnsafeRawBufferPointer, in bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        var offset = 0
        while offset < bytes.count {
            let record = Record(at: offset, in: bytes)
            if record.nameLength == name.count, HTTPASCII.equalsIgnoringCase(record.name(in: bytes), name) {
                return record.valueStart..<record.valueStart + record.valueLength
            }
            offset = record.end
        }
        return nil
    }

    /// Every value of the field `name`, in order (one per field line; lists are not split).
    public func values(_ name: String) -> [String] {
        var values: [String] = []
        name.withContiguousUTF8 { wanted in
            let wanted = UnsafeRawBufferPointer(wanted)
            guard mayContain(wanted) else { return }
            forEachField { fieldName, value in
                if HTTPASCII.equalsIgnoringCase(fieldName, wanted) { values.append(HTTPASCII.string(value)) }
            }
        }
        return values
    }

    /// False when certainly no field named in `names` is present; true when one may be (the
    /// filter has false positives, never false negatives).
    public func mayContainAny(of names: HTTPFieldNameSet) -> Bool {
        namesPresent & names.mask != 0
    }

    /// Whether a field `name` is present.
    public func contains(_ name: HTTPFieldName) -> Bool {
        withFirstValue(named: name.bytes, filterBit: name.filterBit) { $0 != nil }
    }

    /// Whether a field `name` is present.
    public func contains(name: String) -> Bool {
        name.withContiguousUTF8 { wanted in
            withFirstValue(named: UnsafeRawBufferPointer(wanted)) { $0 != nil }
        }
    }

    /// Whether a field name read through ``forEachField(_:)`` is `other`, ignoring ASCII case
    /// (field names are case-insensitive).
    public static func name(_ name: UnsafeRawBufferPointer, is other: String) -> Bool {
        other.withContiguousUTF8 { HTTPASCII.equalsIgnoringCase(name, UnsafeRawBufferPointer($0)) }
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
        // Safe: a StaticString's storage is immortal and `utf8CodeUnitCount` bytes long.
        let connection: StaticString = "connection"
        guard mayContain(UnsafeRawBufferPointer(start: connection.utf8Start, count: connection.utf8CodeUnitCount)) else {
            return false
        }
        var found = false
        forEachField { name, value in
            if !found, HTTPASCII.equalsIgnoringCase(name, lowercase: "connection"),
                HTTPASCII.listContains(value, lowercase: token)
            {
                found = true
            }
        }
        return found
    }

    // MARK: Changing

    /// Appends a field line, keeping any with the same name.
    ///
    /// Names and values come from our own code here, never from a peer (the parser appends
    /// what it read through `init(byteCapacity:_:)`), so a bad byte is our bug: debug
    /// builds trap on it (`assert`, so tests catch it); release builds sanitize instead of
    /// trapping, because a server that crashes on one bad header is a denial of service. A
    /// name that is not a token drops the field; a control byte in a value becomes a space.
    /// Either way a peer never sees a header split in two (response splitting).
    public mutating func add(name: String, value: String) {
        name.withContiguousUTF8 { name in
            value.withContiguousUTF8 { value in
                appendChecked(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value))
            }
        }
    }

    /// Appends a field line under a name checked when it was made: only the value is
    /// checked here, as ``add(name:value:)`` checks it.
    public mutating func add(_ name: HTTPFieldName, value: String) {
        value.withContiguousUTF8 { appendValueChecked(name: name.bytes, filterBit: name.filterBit, value: UnsafeRawBufferPointer($0)) }
    }

    /// Appends a field `name` whose value is a copy of the first field `source`'s, as bytes
    /// (no `String` is made, and the value was checked when it came in); appends nothing and
    /// returns false when there is no `source` field. How a proxy sets `X-Forwarded-Host`.
    @discardableResult
    public mutating func add(_ name: HTTPFieldName, copyingValueOf source: HTTPFieldName) -> Bool {
        guard namesPresent & source.filterBit != 0,
            let found = storage.withUnsafeBytes({ Self.firstValueRange(named: source.bytes, in: $0) })
        else { return false }
        let size = Self.recordSize(nameCount: name.bytes.count, valueCount: found.count)
        // Written into scratch first: appending may move the storage the value is read from.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { scratch in
            // Safe: `scratch` holds `size` bytes, all written by writeRecord; `found` lies inside the storage.
            guard let base = scratch.baseAddress else { return }
            storage.withUnsafeBytes { bytes in
                _ = Self.writeRecord(name: name.bytes, value: UnsafeRawBufferPointer(rebasing: bytes[found]), at: base)
            }
            storage.append(contentsOf: UnsafeBufferPointer(scratch))
        }
        namesPresent |= name.filterBit
        count += 1
        return true
    }

    /// Appends the field lines `fill` writes, with one copy into the storage (see
    /// ``HTTPFieldAppender``).
    public mutating func appendFields(_ fill: (inout HTTPFieldAppender) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 512) { scratch in
            let (used, spilled, fieldCount, present) = storage.withUnsafeBytes { existing in
                var appender = HTTPFieldAppender(scratch: scratch, existing: existing, existingNames: namesPresent)
                fill(&appender)
                return (appender.used, appender.spilled, appender.fieldCount, appender.namesPresent)
            }
            if !spilled.isEmpty { storage.append(contentsOf: spilled) }
            // Safe: the appender wrote `used` bytes of records at the start of `scratch`.
            storage.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<used]))
            count += fieldCount
            namesPresent |= present
        }
    }

    private mutating func appendChecked(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard Self.isValidName(name) else { return }
        appendValueChecked(name: name, filterBit: Self.nameBit(name), value: value)
    }

    /// Whether `name` may name a field (a token, at most 65535 bytes); a name our code got
    /// wrong traps in debug builds.
    private static func isValidName(_ name: UnsafeRawBufferPointer) -> Bool {
        guard !name.isEmpty, name.count <= Int(UInt16.max), name.allSatisfy(HTTPByteClass.isToken) else {
            assertionFailure("HTTPHeaders: field name is not a token")
            return false
        }
        return true
    }

    private mutating func appendValueChecked(name: UnsafeRawBufferPointer, filterBit: UInt64, value: UnsafeRawBufferPointer) {
        guard HTTPByteClass.endOfFieldValue(value, from: 0) == value.count else {
            assertionFailure("HTTPHeaders: control byte in a header value")
            let sanitized = value.map { HTTPByteClass.isFieldValue($0) ? $0 : UInt8(ascii: " ") }
            sanitized.withUnsafeBytes { appendRecord(name: name, filterBit: filterBit, value: $0) }
            return
        }
        appendRecord(name: name, filterBit: filterBit, value: value)
    }

    /// Builds the fields of a parsed head: `fill` appends the lines the parser accepted
    /// (token names; values of field-value bytes with their surrounding whitespace trimmed)
    /// through a ``ParsedFieldWriter``, which writes each record into scratch space (on the
    /// stack for a usual head) without checking it again; the storage is then made with one
    /// copy. Why: appending record by record costs a uniqueness and capacity check and a
    /// scratch copy per line, and `Array(unsafeUninitializedCapacity:)` reaches the standard
    /// library's unspecialized allocation (a generic metadata look-up, twice per proxied
    /// request) where `reserveCapacity` does not.
    ///
    /// - Parameters:
    ///   - byteCapacity: at least the size of every record `fill` appends (see
    ///     ``recordSize(nameCount:valueCount:)``).
    ///   - spareCapacity: room to keep after the records, for fields added later.
    init<Failure: Error>(
        byteCapacity: Int, spareCapacity: Int, _ fill: (inout ParsedFieldWriter) throws(Failure) -> Void
    ) throws(Failure) {
        var failure: Failure?
        var fieldCount = 0
        var present: UInt64 = 0
        var bytes: [UInt8] = []
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: byteCapacity) { scratch in
            var writer = ParsedFieldWriter(buffer: scratch)
            do throws(Failure) {
                try fill(&writer)
            } catch {
                failure = error
                return
            }
            fieldCount = writer.fieldCount
            present = writer.namesPresent
            bytes.reserveCapacity(writer.byteCount + spareCapacity)
            // Safe: the writer initialized the first `byteCount` bytes of `scratch`.
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<writer.byteCount]))
        }
        if let failure { throw failure }
        storage = bytes
        count = fieldCount
        namesPresent = present
    }

    /// The bytes a record takes in storage.
    static func recordSize(nameCount: Int, valueCount: Int) -> Int {
        Record.headerSize + nameCount + 2 + valueCount + 2
    }

    /// Writes one record (header, `name: value`, CRLF) at `base`, which has room for
    /// ``recordSize(nameCount:valueCount:)`` bytes; returns that size.
    @inline(__always)
    static func writeRecord(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, at base: UnsafeMutablePointer<UInt8>
    ) -> Int {
        // Safe: the caller gives room for every byte written here, all inside the record.
        base[0] = UInt8(truncatingIfNeeded: name.count)
        base[1] = UInt8(truncatingIfNeeded: name.count >> 8)
        base[2] = UInt8(truncatingIfNeeded: value.count)
        base[3] = UInt8(truncatingIfNeeded: value.count >> 8)
        base[4] = UInt8(truncatingIfNeeded: value.count >> 16)
        base[5] = UInt8(truncatingIfNeeded: value.count >> 24)
        var offset = Record.headerSize
        if let start = name.baseAddress { UnsafeMutableRawPointer(base + offset).copyMemory(from: start, byteCount: name.count) }
        offset += name.count
        base[offset] = UInt8(ascii: ":")
        base[offset + 1] = UInt8(ascii: " ")
        offset += 2
        if let start = value.baseAddress { UnsafeMutableRawPointer(base + offset).copyMemory(from: start, byteCount: value.count) }
        offset += value.count
        base[offset] = UInt8(ascii: "\r")
        base[offset + 1] = UInt8(ascii: "\n")
        return offset + 2
    }

    private mutating func appendRecord(name: UnsafeRawBufferPointer, filterBit: UInt64, value: UnsafeRawBufferPointer) {
        let size = Self.recordSize(nameCount: name.count, valueCount: value.count)
        // The record is assembled in a scratch buffer (on the stack when small) and appended
        // with one copy: each `append` checks uniqueness and capacity, and a record would
        // take a dozen of them.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { scratch in
            // Safe: `scratch` holds `size` bytes, all written by writeRecord.
            guard let base = scratch.baseAddress else { return }
            _ = Self.writeRecord(name: name, value: value, at: base)
            storage.append(contentsOf: UnsafeBufferPointer(scratch))
        }
        namesPresent |= filterBit
        count += 1
    }

    /// Removes, in place and keeping the order of the rest, every field for which
    /// `shouldRemove` returns true. No allocation when the storage is not shared.
    public mutating func removeAll(
        where shouldRemove: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) rethrows {
        guard count > 0 else { return }
        var removed = 0
        var present: UInt64 = 0
        let kept = try storage.withUnsafeMutableBytes { bytes -> Int in
            // Safe: every record lies inside `bytes` (we wrote them); kept records move
            // towards the front, and `copyMemory` allows the overlap (it is a memmove).
            let base = bytes.baseAddress!
            var read = 0
            var write = 0
            while read < bytes.count {
                let record = Record(at: read, in: UnsafeRawBufferPointer(bytes))
                let length = record.end - read
                if try shouldRemove(record.name(in: UnsafeRawBufferPointer(bytes)), record.value(in: UnsafeRawBufferPointer(bytes))) {
                    removed += 1
                } else {
                    present |= Self.nameBit(record.name(in: UnsafeRawBufferPointer(bytes)))
                    if write != read { (base + write).copyMemory(from: base + read, byteCount: length) }
                    write += length
                }
                read = record.end
            }
            return write
        }
        guard removed > 0 else { return }
        storage.removeSubrange(kept...)
        count -= removed
        namesPresent = present
    }

    /// Replaces the first field `name` (keeping its spelling and place) and removes the
    /// others, or appends it if absent.
    /// A name that is not a token changes nothing (see ``add(name:value:)``).
    public mutating func replaceOrAdd(name: String, value: String) {
        name.withContiguousUTF8 { wanted in
            let wanted = UnsafeRawBufferPointer(wanted)
            guard Self.isValidName(wanted) else { return }
            value.withContiguousUTF8 { value in
                replaceOrAppend(name: wanted, filterBit: Self.nameBit(wanted), value: UnsafeRawBufferPointer(value))
            }
        }
    }

    /// The same under a name checked when it was made.
    public mutating func replaceOrAdd(_ name: HTTPFieldName, value: String) {
        value.withContiguousUTF8 { replaceOrAppend(name: name.bytes, filterBit: name.filterBit, value: UnsafeRawBufferPointer($0)) }
    }

    private mutating func replaceOrAppend(name wanted: UnsafeRawBufferPointer, filterBit: UInt64, value: UnsafeRawBufferPointer) {
        // Usually absent (a service adding its `X-Request-ID`): the names filter says so
        // without a walk, and the field is appended instead of the storage rebuilt.
        guard namesPresent & filterBit != 0 else { return appendValueChecked(name: wanted, filterBit: filterBit, value: value) }
        var replaced = HTTPHeaders()
        replaced.reserveBytes(storage.count + Self.recordSize(nameCount: wanted.count, valueCount: value.count))
        var found = false
        forEachField { fieldName, fieldValue in
            if HTTPASCII.equalsIgnoringCase(fieldName, wanted) {
                if !found {
                    replaced.appendValueChecked(name: fieldName, filterBit: Self.nameBit(fieldName), value: value)
                    found = true
                }
            } else {
                replaced.appendRecord(name: fieldName, filterBit: Self.nameBit(fieldName), value: fieldValue)
            }
        }
        if !found { replaced.appendValueChecked(name: wanted, filterBit: filterBit, value: value) }
        self = replaced
    }

    /// Removes every field `name`.
    public mutating func remove(name: String) {
        name.withContiguousUTF8 { wanted in
            let wanted = UnsafeRawBufferPointer(wanted)
            removeAll { fieldName, _ in HTTPASCII.equalsIgnoringCase(fieldName, wanted) }
        }
    }

    // MARK: Writing

    /// The bytes of every field line (`name: value` CRLF) together: what writing them takes.
    var lineByteCount: Int { storage.count - count * Record.headerSize }

    /// Calls `body` with each field's name and whole line (`name: value` CRLF), in order; the
    /// buffers are valid only during the call. How heads are written: a line is copied whole.
    func forEachLine(_ body: (_ name: UnsafeRawBufferPointer, _ line: UnsafeRawBufferPointer) -> Void) {
        storage.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let record = Record(at: offset, in: bytes)
                // Safe: the record's parts lie inside `bytes`, which lives for this closure.
                body(record.name(in: bytes), UnsafeRawBufferPointer(rebasing: bytes[record.nameStart..<record.end]))
                offset = record.end
            }
        }
    }

    // MARK: Equality and description

    /// Same fields, same order, same spelling: two such lists have the same records.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.count == rhs.count && lhs.storage == rhs.storage
    }

    public var description: String {
        "[" + map { "\($0.name): \($0.value)" }.joined(separator: ", ") + "]"
    }
}

/// Appends the parser's field lines to new ``HTTPHeaders`` storage (see
/// `HTTPHeaders.init(byteCapacity:_:)`), with no checks: the parser has made them.
struct ParsedFieldWriter {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var byteCount = 0
    private(set) var fieldCount = 0
    private(set) var namesPresent: UInt64 = 0

    init(buffer: UnsafeMutableBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    mutating func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let size = HTTPHeaders.recordSize(nameCount: name.count, valueCount: value.count)
        // The capacity is the parser's upper bound for the whole section: a line that did
        // not fit would be a bug in that bound, and writing past it memory corruption.
        precondition(byteCount + size <= buffer.count, "HTTP parser: header storage undersized")
        guard let base = buffer.baseAddress else { return }
        byteCount += HTTPHeaders.writeRecord(name: name, value: value, at: base + byteCount)
        fieldCount += 1
        namesPresent |= HTTPHeaders.nameBit(name)
    }
}

extension HTTPHeaders {
    /// Where one record's parts lie in the storage.
    struct Record {
        static let headerSize = 6

        let nameStart: Int
        let nameLength: Int
        let valueLength: Int

        /// Reads the record header at `offset`. Only ever called at record boundaries of
        /// storage we wrote, so the header and both parts are inside `bytes`.
        @inline(__always)
        init(at offset: Int, in bytes: UnsafeRawBufferPointer) {
            nameLength = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
            valueLength =
                Int(bytes[offset + 2]) | Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4]) << 16
                | Int(bytes[offset + 5]) << 24
            nameStart = offset + Self.headerSize
        }

        var valueStart: Int { nameStart + nameLength + 2 }
        /// The offset after the line's CRLF: the next record's header.
        var end: Int { valueStart + valueLength + 2 }

        @inline(__always)
        func name(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
            // Safe: inside `bytes` (see init); valid as long as `bytes` is.
            UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameStart + nameLength])
        }

        @inline(__always)
        func value(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
            // Safe: inside `bytes` (see init); valid as long as `bytes` is.
            UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueStart + valueLength])
        }
    }
}
