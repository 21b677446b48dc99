/// Byte-level helpers shared by the head serializers.
///
/// Field names and values come from our own code or from our parser, which refuses control
/// bytes, so a CR, LF or NUL here is our bug. Debug builds trap on it (`assert`, so tests
/// catch it); release builds sanitize instead of trapping, because a server that crashes on
/// one bad header is a denial of service: such bytes become a space in values and phrases,
/// and a field whose name is not a token is dropped. Either way the peer never sees a
/// header split into two (response splitting).
enum HTTPHeadWriter {
    static let crlf: [UInt8] = [UInt8(ascii: "\r"), UInt8(ascii: "\n")]

    static func writeVersion(_ version: HTTPVersion, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: "HTTP/".utf8)
        writeDecimal(version.major, into: &buffer)
        buffer.append(UInt8(ascii: "."))
        writeDecimal(version.minor, into: &buffer)
    }

    static func writeDecimal(_ value: Int, into buffer: inout [UInt8]) {
        if value < 10 && value >= 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(value))
        } else {
            buffer.append(contentsOf: String(value).utf8)
        }
    }

    /// Writes `text` with control bytes other than HTAB turned into spaces.
    static func writeSanitized(_ text: String, into buffer: inout [UInt8]) {
        for byte in text.utf8 {
            if HTTPByteClass.isFieldValue(byte) {
                buffer.append(byte)
            } else {
                assertionFailure("HTTP serializer: control byte in a header value or phrase")
                buffer.append(UInt8(ascii: " "))
            }
        }
    }

    /// Writes each field line and the empty line that ends the head.
    static func writeFields(_ headers: HTTPHeaders, into buffer: inout [UInt8]) {
        for field in headers {
            guard !field.name.isEmpty, field.name.utf8.allSatisfy(HTTPByteClass.isToken) else {
                assertionFailure("HTTP serializer: field name is not a token")
                continue
            }
            buffer.append(contentsOf: field.name.utf8)
            buffer.append(UInt8(ascii: ":"))
            buffer.append(UInt8(ascii: " "))
            writeSanitized(field.value, into: &buffer)
            buffer.append(contentsOf: crlf)
        }
        buffer.append(contentsOf: crlf)
    }
}

extension HTTPRequestHead {
    /// Appends `method SP target SP version CRLF`, the fields and the empty line.
    ///
    /// Framing fields (`Content-Length`, `Transfer-Encoding`, `Host`) are written as given;
    /// setting them is the caller's job. Control bytes in the target are sanitized like values.
    public func write(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: method.rawValue.utf8)
        buffer.append(UInt8(ascii: " "))
        for byte in target.utf8 {
            if HTTPByteClass.isTargetByte(byte) {
                buffer.append(byte)
            } else {
                assertionFailure("HTTP serializer: request target holds a byte that must be escaped")
                buffer.append(UInt8(ascii: "_"))
            }
        }
        buffer.append(UInt8(ascii: " "))
        HTTPHeadWriter.writeVersion(version, into: &buffer)
        buffer.append(contentsOf: HTTPHeadWriter.crlf)
        HTTPHeadWriter.writeFields(headers, into: &buffer)
    }
}

extension HTTPResponseHead {
    /// Appends `version SP code SP reason CRLF`, the fields and the empty line.
    public func write(into buffer: inout [UInt8]) {
        HTTPHeadWriter.writeVersion(version, into: &buffer)
        buffer.append(UInt8(ascii: " "))
        let code = min(max(status.code, 100), 999)
        assert(code == status.code, "HTTP serializer: status code outside 100...999")
        buffer.append(UInt8(ascii: "0") + UInt8(code / 100))
        buffer.append(UInt8(ascii: "0") + UInt8(code / 10 % 10))
        buffer.append(UInt8(ascii: "0") + UInt8(code % 10))
        buffer.append(UInt8(ascii: " "))
        HTTPHeadWriter.writeSanitized(status.reasonPhrase, into: &buffer)
        buffer.append(contentsOf: HTTPHeadWriter.crlf)
        HTTPHeadWriter.writeFields(headers, into: &buffer)
    }
}
