/// Byte-level helpers shared by the head serializers.
///
/// Field lines are copied as ``HTTPHeaders`` stores them, already checked (see
/// ``HTTPHeaders/add(name:value:)``). Reason phrases, targets and configured values come from
/// our own code, so a CR, LF or NUL in them is our bug: debug builds trap on it (`assert`, so
/// tests catch it); release builds sanitize instead of trapping, because a server that
/// crashes on one bad header is a denial of service. Either way the peer never sees a header
/// split into two (response splitting).
enum HTTPHeadWriter {
    static func writeVersion(_ version: HTTPVersion, into buffer: inout [UInt8]) {
        writeStatic("HTTP/", into: &buffer)
        writeDecimal(version.major, into: &buffer)
        buffer.append(UInt8(ascii: "."))
        writeDecimal(version.minor, into: &buffer)
    }

    /// Writes a non-negative number in decimal without making a `String` of it.
    static func writeDecimal(_ value: Int, into buffer: inout [UInt8]) {
        assert(value >= 0, "HTTP serializer: negative number")
        let value = max(value, 0)
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Writes `text` with control bytes other than HTAB turned into spaces.
    static func writeSanitized(_ text: String, into buffer: inout [UInt8]) {
        writeChecked(
            text, allowing: HTTPByteClass.isFieldValue, replacement: UInt8(ascii: " "), into: &buffer,
            "HTTP serializer: control byte in a header value or phrase")
    }

    /// Writes `text`, replacing each byte that `isAllowed` refuses (our bug: asserted in
    /// debug builds). The common case, a valid string, is one check and one copy.
    static func writeChecked(
        _ text: String, allowing isAllowed: (UInt8) -> Bool, replacement: UInt8, into buffer: inout [UInt8],
        _ message: StaticString
    ) {
        text.withContiguousUTF8 { bytes in
            if bytes.allSatisfy(isAllowed) {
                buffer.append(contentsOf: bytes)
                return
            }
            assertionFailure("\(message)")
            for byte in bytes { buffer.append(isAllowed(byte) ? byte : replacement) }
        }
    }

    /// Appends `text`'s UTF-8 in one copy.
    static func writeUTF8(_ text: String, into buffer: inout [UInt8]) {
        text.withContiguousUTF8 { buffer.append(contentsOf: $0) }
    }

    /// Writes each field line and the empty line that ends the head.
    static func writeFields(_ headers: HTTPHeaders, into buffer: inout [UInt8]) {
        headers.writeLines(into: &buffer, omitting: { _ in false })
        writeEndOfHead(into: &buffer)
    }

    /// Writes `name: value` CRLF for one of our own constant names and a number.
    static func writeField(_ name: StaticString, decimal value: Int, into buffer: inout [UInt8]) {
        writeFieldName(name, into: &buffer)
        writeDecimal(value, into: &buffer)
        writeEndOfHead(into: &buffer)
    }

    /// Writes `name: value` CRLF for one of our own constant names and a constant value.
    static func writeField(_ name: StaticString, _ value: StaticString, into buffer: inout [UInt8]) {
        writeFieldName(name, into: &buffer)
        writeStatic(value, into: &buffer)
        writeEndOfHead(into: &buffer)
    }

    /// Writes `name: value` CRLF for one of our own constant names and a configured value.
    static func writeField(_ name: StaticString, sanitizing value: String, into buffer: inout [UInt8]) {
        writeFieldName(name, into: &buffer)
        writeSanitized(value, into: &buffer)
        writeEndOfHead(into: &buffer)
    }

    /// `name: ` for one of our own constant names (tokens by construction).
    static func writeFieldName(_ name: StaticString, into buffer: inout [UInt8]) {
        writeStatic(name, into: &buffer)
        buffer.append(UInt8(ascii: ":"))
        buffer.append(UInt8(ascii: " "))
    }

    static func writeStatic(_ text: StaticString, into buffer: inout [UInt8]) {
        // Safe: a StaticString's storage is immortal and `utf8CodeUnitCount` bytes long.
        buffer.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// CRLF: the end of a line, and on its own the end of the head.
    @inline(__always)
    static func writeEndOfHead(into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\r"))
        buffer.append(UInt8(ascii: "\n"))
    }

    /// `version SP code SP reason CRLF`.
    static func writeStatusLine(version: HTTPVersion, status: HTTPStatus, into buffer: inout [UInt8]) {
        writeVersion(version, into: &buffer)
        buffer.append(UInt8(ascii: " "))
        let code = min(max(status.code, 100), 999)
        assert(code == status.code, "HTTP serializer: status code outside 100...999")
        buffer.append(UInt8(ascii: "0") + UInt8(code / 100))
        buffer.append(UInt8(ascii: "0") + UInt8(code / 10 % 10))
        buffer.append(UInt8(ascii: "0") + UInt8(code % 10))
        buffer.append(UInt8(ascii: " "))
        writeSanitized(status.reasonPhrase, into: &buffer)
        writeEndOfHead(into: &buffer)
    }
}

extension HTTPRequestHead {
    /// Appends `method SP target SP version CRLF`, the fields and the empty line.
    ///
    /// Framing fields (`Content-Length`, `Transfer-Encoding`, `Host`) are written as given;
    /// setting them is the caller's job. Control bytes in the target are sanitized like values.
    public func write(into buffer: inout [UInt8]) {
        HTTPHeadWriter.writeUTF8(method.rawValue, into: &buffer)
        buffer.append(UInt8(ascii: " "))
        HTTPHeadWriter.writeChecked(
            target, allowing: HTTPByteClass.isTargetByte, replacement: UInt8(ascii: "_"), into: &buffer,
            "HTTP serializer: request target holds a byte that must be escaped")
        buffer.append(UInt8(ascii: " "))
        HTTPHeadWriter.writeVersion(version, into: &buffer)
        HTTPHeadWriter.writeEndOfHead(into: &buffer)
        HTTPHeadWriter.writeFields(headers, into: &buffer)
    }
}

extension HTTPResponseHead {
    /// Appends `version SP code SP reason CRLF`, the fields and the empty line.
    public func write(into buffer: inout [UInt8]) {
        HTTPHeadWriter.writeStatusLine(version: version, status: status, into: &buffer)
        HTTPHeadWriter.writeFields(headers, into: &buffer)
    }
}
