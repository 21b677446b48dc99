/// Parsing of request lines and status lines (RFC 9112 §3 and §4), strictly: single spaces,
/// no leading or trailing whitespace, visible ASCII targets.
enum HTTPStartLine {
    /// Parses `method SP request-target SP HTTP-version`.
    static func parseRequestLine(
        _ bytes: UnsafeRawBufferPointer, _ line: Range<Int>
    ) throws(HTTPParseError) -> (HTTPMethod, String, HTTPVersion) {
        var index = line.lowerBound
        while index < line.upperBound, HTTPByteClass.isToken(bytes[index]) { index += 1 }
        guard index > line.lowerBound else { throw .code(.invalidMethod) }
        guard index < line.upperBound, bytes[index] == UInt8(ascii: " ") else {
            throw .code(index < line.upperBound && bytes[index] != UInt8(ascii: " ") ? .invalidMethod : .invalidRequestLine)
        }
        // Safe: the ranges below lie inside `bytes`.
        let method = makeMethod(UnsafeRawBufferPointer(rebasing: bytes[line.lowerBound..<index]))
        index += 1
        let targetStart = index
        while index < line.upperBound, HTTPByteClass.isTargetByte(bytes[index]) { index += 1 }
        guard index > targetStart else { throw .code(.invalidRequestLine) }
        guard index < line.upperBound, bytes[index] == UInt8(ascii: " ") else {
            throw .code(index < line.upperBound ? .invalidRequestTarget : .invalidRequestLine)
        }
        let target = UnsafeRawBufferPointer(rebasing: bytes[targetStart..<index])
        try checkTargetForm(target, method: method)
        let version = try parseVersion(UnsafeRawBufferPointer(rebasing: bytes[(index + 1)..<line.upperBound]))
        return (method, HTTPASCII.string(target), version)
    }

    /// Parses `HTTP-version SP 3DIGIT [SP reason-phrase]`.
    ///
    /// A missing space after the code is accepted: servers that send an empty reason often
    /// drop it, and the reason carries no meaning (RFC 9112 §4).
    static func parseStatusLine(
        _ bytes: UnsafeRawBufferPointer, _ line: Range<Int>
    ) throws(HTTPParseError) -> (HTTPVersion, HTTPStatus) {
        guard line.count >= 12, bytes[line.lowerBound + 8] == UInt8(ascii: " ") else {
            throw .code(.invalidStatusLine)
        }
        let version = try parseVersion(UnsafeRawBufferPointer(rebasing: bytes[line.lowerBound..<(line.lowerBound + 8)]))
        var code = 0
        for index in (line.lowerBound + 9)..<(line.lowerBound + 12) {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw .code(.invalidStatusLine) }
            code = code * 10 + Int(digit)
        }
        guard code >= 100 else { throw .code(.invalidStatusLine) }
        var reasonStart = line.lowerBound + 12
        if reasonStart < line.upperBound {
            guard bytes[reasonStart] == UInt8(ascii: " ") else { throw .code(.invalidStatusLine) }
            reasonStart += 1
        }
        for index in reasonStart..<line.upperBound where !HTTPByteClass.isFieldValue(bytes[index]) {
            throw .code(.invalidStatusLine)
        }
        let reasonBytes = UnsafeRawBufferPointer(rebasing: bytes[reasonStart..<line.upperBound])
        // The usual answer's phrase is a literal rather than a string made (and validated) anew.
        if code == 200, reasonBytes.count == 2, reasonBytes[0] == UInt8(ascii: "O"), reasonBytes[1] == UInt8(ascii: "K") {
            return (version, .ok)
        }
        return (version, HTTPStatus(code: code, reasonPhrase: HTTPASCII.string(reasonBytes)))
    }

    /// Parses `HTTP/DIGIT.DIGIT`; a major version other than 1 is well formed but unsupported.
    static func parseVersion(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> HTTPVersion {
        guard bytes.count == 8, bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"),
            bytes[2] == UInt8(ascii: "T"), bytes[3] == UInt8(ascii: "P"), bytes[4] == UInt8(ascii: "/"),
            bytes[5] &- UInt8(ascii: "0") < 10, bytes[6] == UInt8(ascii: "."), bytes[7] &- UInt8(ascii: "0") < 10
        else { throw .code(.invalidVersion) }
        let major = Int(bytes[5] &- UInt8(ascii: "0"))
        guard major == 1 else { throw .code(.versionNotSupported) }
        return HTTPVersion(major: major, minor: Int(bytes[7] &- UInt8(ascii: "0")))
    }

    /// The registered methods without allocating; any other token becomes a new `String`.
    private static func makeMethod(_ name: UnsafeRawBufferPointer) -> HTTPMethod {
        switch name.count {
        case 3:
            if matches(name, "GET") { return .GET }
            if matches(name, "PUT") { return .PUT }
        case 4:
            if matches(name, "POST") { return .POST }
            if matches(name, "HEAD") { return .HEAD }
        case 5:
            if matches(name, "PATCH") { return .PATCH }
            if matches(name, "TRACE") { return .TRACE }
        case 6:
            if matches(name, "DELETE") { return .DELETE }
        case 7:
            if matches(name, "OPTIONS") { return .OPTIONS }
            if matches(name, "CONNECT") { return .CONNECT }
        default:
            break
        }
        return HTTPMethod(validated: HTTPASCII.string(name))
    }

    /// Case-sensitive comparison with a literal: methods are case-sensitive (RFC 9110 §9.1).
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        // Safe: a StaticString's storage is immortal and `utf8CodeUnitCount` bytes long.
        let other = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        return bytes.elementsEqual(other)
    }

    /// Checks the target's form against the method (RFC 9112 §3.2): `*` only for OPTIONS,
    /// authority-form only (and always) for CONNECT, otherwise origin-form or absolute-form.
    private static func checkTargetForm(_ target: UnsafeRawBufferPointer, method: HTTPMethod) throws(HTTPParseError) {
        if method == .CONNECT {
            // authority-form: host ":" port, no path.
            guard target[0] != UInt8(ascii: "/"), target.contains(UInt8(ascii: ":")),
                !target.contains(UInt8(ascii: "/")), !target.contains(UInt8(ascii: "?"))
            else { throw .code(.invalidRequestTarget) }
            return
        }
        if target[0] == UInt8(ascii: "/") { return }
        if target.count == 1, target[0] == UInt8(ascii: "*") {
            guard method == .OPTIONS else { throw .code(.invalidRequestTarget) }
            return
        }
        // absolute-form: scheme "://" ...; a scheme is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
        var index = 0
        while index < target.count, isSchemeByte(target[index], first: index == 0) { index += 1 }
        guard index > 0, index + 3 <= target.count, target[index] == UInt8(ascii: ":"),
            target[index + 1] == UInt8(ascii: "/"), target[index + 2] == UInt8(ascii: "/")
        else { throw .code(.invalidRequestTarget) }
    }

    private static func isSchemeByte(_ byte: UInt8, first: Bool) -> Bool {
        let lower = byte | 0x20
        if lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z") { return true }
        if first { return false }
        return byte &- UInt8(ascii: "0") < 10 || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: ".")
    }
}
