/// Writes a message head through a pointer into scratch room sized beforehand, then
/// appends the head to the output with one copy.
///
/// Why: written straight into an `[UInt8]`, a head takes about forty appends (a byte, a
/// digit, a line at a time), each checking the array's uniqueness and capacity. Here a
/// write is a bounds check and a store.
/// The bound is computed from what will be written (``decimalLength(_:)``,
/// ``HTTPHeaders/lineByteCount``); a write past it is our bug and traps, it never corrupts.
///
/// Field lines are copied as ``HTTPHeaders`` stores them, already checked (see
/// ``HTTPHeaders/add(name:value:)``). Reason phrases, targets and configured values come from
/// our own code, so a CR, LF or NUL in them is our bug: debug builds trap on it (`assert`, so
/// tests catch it); release builds sanitize instead of trapping, because a server that
/// crashes on one bad header is a denial of service. Either way the peer never sees a header
/// split into two (response splitting).
struct HTTPHeadWriter {
    private let base: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    /// Bytes written so far.
    private(set) var count = 0

    private init(base: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    /// Appends to `buffer` what `write` writes, at most `maxCount` bytes.
    static func append(to buffer: inout [UInt8], atMost maxCount: Int, _ write: (inout HTTPHeadWriter) -> Void) {
        append(to: &buffer, atMost: maxCount, with: ()) { writer, _ in write(&writer) }
    }

    /// The same, handing `write` a value to write from. Why: a closure that captures a
    /// struct (a head, a response) copies it, a retain and a release per reference in it;
    /// passed as an argument it is not copied.
    static func append<Context>(
        to buffer: inout [UInt8], atMost maxCount: Int, with context: Context,
        _ write: (inout HTTPHeadWriter, Context) -> Void
    ) {
        // The scratch room is on the stack for a usual head (the runtime falls back to the
        // heap for a large one).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(maxCount, 1)) { scratch in
            // Safe: `scratch` has at least one element, so its base address is non-nil.
            guard let base = scratch.baseAddress else { return }
            var writer = HTTPHeadWriter(base: base, capacity: scratch.count)
            write(&writer, context)
            buffer.append(contentsOf: UnsafeBufferPointer(start: base, count: writer.count))
        }
    }

    // MARK: Bytes

    @inline(__always)
    mutating func byte(_ byte: UInt8) {
        precondition(count < capacity, "HTTP serializer: head larger than its bound")
        // Safe: count < capacity, the scratch room's size.
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= capacity - count, "HTTP serializer: head larger than its bound")
        // Safe: checked above that the bytes fit after `count`.
        if let source = bytes.baseAddress { UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count) }
        count += bytes.count
    }

    mutating func text(_ text: StaticString) {
        // Safe: a StaticString literal's storage is immortal and `utf8CodeUnitCount` bytes long.
        bytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// CRLF: the end of a line, and on its own the end of the head.
    @inline(__always)
    mutating func endOfLine() {
        byte(UInt8(ascii: "\r"))
        byte(UInt8(ascii: "\n"))
    }

    /// A non-negative number in decimal (``decimalLength(_:)`` bytes), without a `String`.
    mutating func decimal(_ value: Int) {
        assert(value >= 0, "HTTP serializer: negative number")
        var rest = max(value, 0)
        let length = Self.decimalLength(rest)
        precondition(length <= capacity - count, "HTTP serializer: head larger than its bound")
        // Safe: the `length` digits fit after `count` (checked above); written from the right.
        var index = count + length
        repeat {
            index -= 1
            base[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        } while rest > 0
        count += length
    }

    /// The digits `decimal(_:)` writes for `value` (1 for 0 and for negative values).
    static func decimalLength(_ value: Int) -> Int {
        var length = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            length += 1
        }
        return length
    }

    /// Writes `text`, replacing each byte that `isAllowed` refuses (our bug: asserted in
    /// debug builds); as many bytes as `text.utf8.count` either way. The common case, a
    /// valid string, is one check and one copy.
    mutating func checked(
        _ text: String, allowing isAllowed: (UInt8) -> Bool, replacement: UInt8, _ message: StaticString
    ) {
        text.withContiguousUTF8 { bytes in
            if bytes.allSatisfy(isAllowed) {
                self.bytes(UnsafeRawBufferPointer(bytes))
                return
            }
            assertionFailure("\(message)")
            for byte in bytes { self.byte(isAllowed(byte) ? byte : replacement) }
        }
    }

    /// Writes `text` with control bytes other than HTAB turned into spaces.
    mutating func sanitized(_ text: String) {
        checked(
            text, allowing: HTTPByteClass.isFieldValue, replacement: UInt8(ascii: " "),
            "HTTP serializer: control byte in a header value or phrase")
    }

    // MARK: Head parts

    /// `HTTP/major.minor`: ``versionLength(_:)`` bytes.
    mutating func version(_ version: HTTPVersion) {
        text("HTTP/")
        decimal(version.major)
        byte(UInt8(ascii: "."))
        decimal(version.minor)
    }

    static func versionLength(_ version: HTTPVersion) -> Int {
        5 + decimalLength(version.major) + 1 + decimalLength(version.minor)
    }

    /// `version SP code SP reason CRLF`: ``statusLineLength(version:status:)`` bytes.
    mutating func statusLine(version: HTTPVersion, status: HTTPStatus) {
        if version == .http1_1, let line = Self.commonStatusLine(status) {
            text(line)
            return
        }
        self.version(version)
        byte(UInt8(ascii: " "))
        let code = min(max(status.code, 100), 999)
        assert(code == status.code, "HTTP serializer: status code outside 100...999")
        byte(UInt8(ascii: "0") + UInt8(code / 100))
        byte(UInt8(ascii: "0") + UInt8(code / 10 % 10))
        byte(UInt8(ascii: "0") + UInt8(code % 10))
        byte(UInt8(ascii: " "))
        sanitized(status.reasonPhrase)
        endOfLine()
    }

    /// The whole HTTP/1.1 status line of the statuses our services and their upstreams
    /// answer most, when `status` has the standard phrase: one copy instead of a version, three
    /// digits and a checked phrase. (A phrase equal to a literal compares without a scan:
    /// both are small strings with the same bits.)
    static func commonStatusLine(_ status: HTTPStatus) -> StaticString? {
        switch status.code {
        case 200 where status.reasonPhrase == "OK": return "HTTP/1.1 200 OK\r\n"
        case 201 where status.reasonPhrase == "Created": return "HTTP/1.1 201 Created\r\n"
        case 204 where status.reasonPhrase == "No Content": return "HTTP/1.1 204 No Content\r\n"
        case 304 where status.reasonPhrase == "Not Modified": return "HTTP/1.1 304 Not Modified\r\n"
        case 400 where status.reasonPhrase == "Bad Request": return "HTTP/1.1 400 Bad Request\r\n"
        case 404 where status.reasonPhrase == "Not Found": return "HTTP/1.1 404 Not Found\r\n"
        default: return nil
        }
    }

    static func statusLineLength(version: HTTPVersion, status: HTTPStatus) -> Int {
        versionLength(version) + 5 + status.reasonPhrase.utf8.count + 2
    }

    /// `name: value` CRLF for one of our own constant names and a number:
    /// `name.utf8CodeUnitCount + 4 + decimalLength(value)` bytes.
    mutating func field(_ name: StaticString, decimal value: Int) {
        fieldName(name)
        decimal(value)
        endOfLine()
    }

    /// `name: value` CRLF for one of our own constant names and a constant value.
    mutating func field(_ name: StaticString, _ value: StaticString) {
        fieldName(name)
        text(value)
        endOfLine()
    }

    /// `name: value` CRLF for one of our own constant names and a configured value.
    mutating func field(_ name: StaticString, sanitizing value: String) {
        fieldName(name)
        sanitized(value)
        endOfLine()
    }

    /// `name: ` for one of our own constant names (tokens by construction).
    mutating func fieldName(_ name: StaticString) {
        text(name)
        byte(UInt8(ascii: ":"))
        byte(UInt8(ascii: " "))
    }

    /// The bytes of a field line for `name` and a value of `valueCount` bytes.
    static func fieldLength(_ name: StaticString, valueCount: Int) -> Int {
        name.utf8CodeUnitCount + 2 + valueCount + 2
    }

    /// Each field line of `headers` that `omit` does not pick.
    mutating func fields(_ headers: HTTPHeaders, omitting omit: (UnsafeRawBufferPointer) -> Bool = { _ in false }) {
        headers.forEachLine { name, line in
            if !omit(name) { bytes(line) }
        }
    }
}

extension HTTPRequestHead {
    /// Appends `method SP target SP version CRLF`, the fields and the empty line.
    ///
    /// Framing fields (`Content-Length`, `Transfer-Encoding`, `Host`) are written as given;
    /// setting them is the caller's job. Control bytes in the target are sanitized like values.
    public func write(into buffer: inout [UInt8]) {
        let length =
            method.rawValue.utf8.count + 1 + target.utf8.count + 1 + HTTPHeadWriter.versionLength(version) + 2
            + headers.lineByteCount + 2
        HTTPHeadWriter.append(to: &buffer, atMost: length, with: self) { writer, head in
            writer.checked(
                head.method.rawValue, allowing: HTTPByteClass.isToken, replacement: UInt8(ascii: "_"),
                "HTTP serializer: method is not a token")
            writer.byte(UInt8(ascii: " "))
            writer.checked(
                head.target, allowing: HTTPByteClass.isTargetByte, replacement: UInt8(ascii: "_"),
                "HTTP serializer: request target holds a byte that must be escaped")
            writer.byte(UInt8(ascii: " "))
            writer.version(head.version)
            writer.endOfLine()
            writer.fields(head.headers)
            writer.endOfLine()
        }
    }
}

extension HTTPResponseHead {
    /// Appends `version SP code SP reason CRLF`, the fields and the empty line.
    public func write(into buffer: inout [UInt8]) {
        let length = HTTPHeadWriter.statusLineLength(version: version, status: status) + headers.lineByteCount + 2
        HTTPHeadWriter.append(to: &buffer, atMost: length, with: self) { writer, head in
            writer.statusLine(version: head.version, status: head.status)
            writer.fields(head.headers)
            writer.endOfLine()
        }
    }
}
