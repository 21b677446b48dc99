/// A strict RFC 8259 parser over bytes, with a depth limit.
///
/// Why our own: it runs on every request body, and Foundation's `JSONSerialization`
/// allocates `NSNumber`s and loses the int/float distinction we need for exact ids.
/// Strict: no trailing commas, comments, NaN, leading zeros, control characters in
/// strings, lone surrogates, invalid UTF-8 or trailing bytes. Pure: safe to fuzz.
public struct JSONParser {
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// Byte offset of the problem.
        public let offset: Int
        public let reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// Nesting deeper than this is refused (a 1 MiB body of `[` must not blow the stack).
    public var maxDepth: Int

    public init(maxDepth: Int = 64) { self.maxDepth = maxDepth }

    /// Parses one JSON text.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(Error) -> JSONValue {
        try JSONParser(maxDepth: maxDepth).parse(bytes)
    }

    public static func parse(_ text: String, maxDepth: Int = 64) throws(Error) -> JSONValue {
        try JSONParser(maxDepth: maxDepth).parse(Array(text.utf8))
    }

    public func parse(_ bytes: [UInt8]) throws(Error) -> JSONValue {
        // Scoped pointer: the cursor lives only inside this closure.
        let result: Result<JSONValue, Error> = bytes.withUnsafeBufferPointer { buffer in
            var cursor = Cursor(bytes: buffer, maxDepth: maxDepth)
            do throws(Error) {
                cursor.skipWhitespace()
                let value = try cursor.parseValue(depth: 0)
                cursor.skipWhitespace()
                if cursor.position != buffer.count { throw cursor.error("unexpected data after the JSON value") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Reads a JSON array of objects without decoding their values, for answers whose
    /// values are copied into another document as they are: checks the whole text as
    /// strictly as ``parse(_:)`` does and hands `body` each element's members in document
    /// order (a repeated name appears each time; ``JSONObject`` would keep the last value).
    ///
    /// `body` sees the elements before any error later in the text is found: a caller that
    /// gets an error drops what `body` gathered.
    /// - Throws: ``Error`` when the text is not JSON, or not an array of objects.
    public func forEachObject(inArray bytes: [UInt8], _ body: (_ members: [JSONRawMember]) -> Void) throws(Error) {
        // Scoped pointer: the cursor lives only inside this closure.
        let failure: Error? = bytes.withUnsafeBufferPointer { buffer in
            var cursor = Cursor(bytes: buffer, maxDepth: maxDepth)
            var members: [JSONRawMember] = []
            do throws(Error) {
                cursor.skipWhitespace()
                guard cursor.peek == UInt8(ascii: "[") else { throw cursor.error("expected an array of objects") }
                if maxDepth < 1 { throw cursor.error("nesting too deep") }
                cursor.position += 1
                cursor.skipWhitespace()
                if cursor.peek == UInt8(ascii: "]") {
                    cursor.position += 1
                } else {
                    elements: while true {
                        cursor.skipWhitespace()
                        guard cursor.peek == UInt8(ascii: "{") else { throw cursor.error("expected an object") }
                        try cursor.scanMembers(into: &members, depth: 2)
                        body(members)
                        cursor.skipWhitespace()
                        switch cursor.peek {
                        case UInt8(ascii: ","): cursor.position += 1
                        case UInt8(ascii: "]"): cursor.position += 1; break elements
                        default: throw cursor.error("expected ',' or ']'")
                        }
                    }
                }
                cursor.skipWhitespace()
                if cursor.position != buffer.count { throw cursor.error("unexpected data after the JSON value") }
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// The integer that a value's text (a ``JSONRawMember/value``) holds, read as
    /// ``JSONValue/intValue`` reads a parsed one; nil when it is not such a number.
    public static func integer(in bytes: [UInt8], _ range: Range<Int>) -> Int64? {
        guard range.lowerBound >= 0, range.upperBound <= bytes.count, !range.isEmpty else { return nil }
        let digitsOnly = bytes[range].indices.allSatisfy { index in
            let byte = bytes[index]
            return (byte >= 0x30 && byte <= 0x39) || (index == range.lowerBound && byte == UInt8(ascii: "-"))
        }
        if digitsOnly, bytes[range.lowerBound] != 0x30 || range.count == 1,
            let value = bytes.withUnsafeBufferPointer({ Cursor.int64(UnsafeBufferPointer(rebasing: $0[range])) })
        {
            return value
        }
        return (try? parse(Array(bytes[range])))?.intValue
    }
}

/// One member of an object read by ``JSONParser/forEachObject(inArray:_:)``: where its name
/// and its value are in the text, neither decoded. Plain ranges, so that copying members
/// around costs no reference counting.
public struct JSONRawMember: Sendable, Equatable {
    /// The name's bytes between its quotes, as written (valid inside a JSON string).
    public let key: Range<Int>
    /// Whether the name is written with escapes (then its bytes are not the name itself).
    public let keyIsEscaped: Bool
    /// The value's whole text: a string with its quotes, an object with its braces.
    public let value: Range<Int>

    /// The member's name, decoded, from `text` (the bytes it was read from).
    public func name(in text: [UInt8]) -> String {
        guard keyIsEscaped else { return String(decoding: text[key], as: UTF8.self) }
        // The quotes around the key are part of the text that was read.
        return (try? JSONParser.parse(Array(text[key.lowerBound - 1..<key.upperBound + 1])))?.stringValue ?? ""
    }

    /// Whether the member is called `name` (its UTF-8 bytes), in `text`.
    public func isNamed(_ name: [UInt8], in text: [UInt8]) -> Bool {
        if keyIsEscaped { return Array(self.name(in: text).utf8) == name }
        guard key.count == name.count, key.upperBound <= text.count else { return false }
        var offset = 0
        for index in key {
            if text[index] != name[offset] { return false }
            offset += 1
        }
        return true
    }

    /// Whether two members of `text` have the same name.
    public func hasSameName(as other: JSONRawMember, in text: [UInt8]) -> Bool {
        if !keyIsEscaped && !other.keyIsEscaped { return text[key].elementsEqual(text[other.key]) }
        return name(in: text) == other.name(in: text)
    }
}

private struct Cursor {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func error(_ reason: String) -> JSONParser.Error { JSONParser.Error(offset: position, reason: reason) }

    var atEnd: Bool { position >= bytes.count }
    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParser.Error) -> JSONValue {
        guard let byte = peek else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParser.Error) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw error("invalid literal") }
        let start = word.utf8Start
        for i in 0..<count where bytes[position + i] != start[i] { throw error("invalid literal") }
        position += count
    }

    mutating func parseObject(depth: Int) throws(JSONParser.Error) -> JSONValue {
        if depth > maxDepth { throw error("nesting too deep") }
        position += 1
        var object = JSONObject()
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            position += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            object[key] = try parseValue(depth: depth)
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(object)
            default: throw error("expected ',' or '}'")
            }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParser.Error) -> JSONValue {
        if depth > maxDepth { throw error("nesting too deep") }
        position += 1
        var array: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            position += 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(array)
            default: throw error("expected ',' or ']'")
            }
        }
    }

    // MARK: Reading without decoding (JSONParser.forEachObject)

    /// Reads the object at the cursor into `members` (emptied first), values undecoded.
    mutating func scanMembers(into members: inout [JSONRawMember], depth: Int) throws(JSONParser.Error) {
        if depth > maxDepth { throw error("nesting too deep") }
        members.removeAll(keepingCapacity: true)
        position += 1
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyStart = position
            let keyIsEscaped = try skipString()
            let key = keyStart + 1..<position - 1
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            let valueStart = position
            try skipValue(depth: depth)
            members.append(JSONRawMember(key: key, keyIsEscaped: keyIsEscaped, value: valueStart..<position))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return
            default: throw error("expected ',' or '}'")
            }
        }
    }

    /// Moves past one value, checking it; strings and numbers are not decoded (nested
    /// arrays and objects, rare in the answers read this way, are parsed and dropped).
    mutating func skipValue(depth: Int) throws(JSONParser.Error) {
        switch peek {
        case UInt8(ascii: "\"")?: _ = try skipString()
        case let byte? where byte == UInt8(ascii: "-") || (byte >= 0x30 && byte <= 0x39):
            let start = position
            let isInteger = try scanNumber()
            // Only an exponent or some 300 digits take a number past Double's range, which
            // parsing refuses: only those are converted.
            if position - start > 300
                || bytes[start..<position].contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") })
            {
                _ = try number(from: start, isInteger: isInteger)
            }
        default: _ = try parseValue(depth: depth)
        }
    }

    /// Moves past one string, checking it as ``parseString()`` does. - Returns: whether it
    /// has escapes (those strings are checked by ``parseString()`` itself).
    mutating func skipString() throws(JSONParser.Error) -> Bool {
        let quote = position
        let text = bytes
        var index = quote + 1
        // Every byte or'd together: below 0x80 means ASCII, which needs no UTF-8 check.
        var seen: UInt8 = 0
        // Eight bytes at a time up to the first quote, backslash or control character: each
        // test sets the high bit of the first byte that matches, and of no byte before it
        // (bytes after it may be marked too: only the first counts). The byte loop below
        // then starts at that byte.
        if let base = text.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while text.count - index >= 8 {
                // Scoped: eight bytes inside the buffer being parsed, read here and not kept.
                // Little-endian order: the first byte is the lowest.
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                let quotes = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
                let backslashes = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
                let stops = ((quotes &- ones) & ~quotes | (backslashes &- ones) & ~backslashes
                    | (word &- ones &* 0x20) & ~word) & highs
                if stops == 0 {
                    if word & highs != 0 { seen = 0x80 }
                    index += 8
                    continue
                }
                let before = stops.trailingZeroBitCount / 8
                // Non-ASCII among the bytes before the stop.
                if before > 0, word & highs & (UInt64.max >> (64 - 8 * before)) != 0 { seen = 0x80 }
                index += before
                break
            }
        }
        while index < text.count {
            let byte = text[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 {
                if byte == UInt8(ascii: "\\") {
                    position = quote
                    _ = try parseString()
                    return true
                }
                position = index
                if byte < 0x20 { throw error("control character in string") }
                if seen >= 0x80, String(validating: UnsafeBufferPointer(rebasing: bytes[quote + 1..<index]), as: UTF8.self) == nil {
                    throw JSONParser.Error(offset: quote + 1, reason: "invalid UTF-8 in string")
                }
                position += 1
                return false
            }
            seen |= byte
            index += 1
        }
        position = index
        throw error("unterminated string")
    }

    mutating func parseNumber() throws(JSONParser.Error) -> JSONValue {
        let start = position
        let isInteger = try scanNumber()
        return try number(from: start, isInteger: isInteger)
    }

    /// The value of the number scanned from `start` to the cursor.
    func number(from start: Int, isInteger: Bool) throws(JSONParser.Error) -> JSONValue {
        let text = UnsafeBufferPointer(rebasing: bytes[start..<position])
        if isInteger, let value = Self.int64(text) { return .int(value) }
        // Out-of-range integers and fractions: Swift's Double(String) rounds correctly.
        guard let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else {
            throw JSONParser.Error(offset: start, reason: "number out of range")
        }
        return .double(value)
    }

    /// Moves past one number, checking its grammar. - Returns: whether it has neither a
    /// fraction nor an exponent.
    mutating func scanNumber() throws(JSONParser.Error) -> Bool {
        var isInteger = true
        if peek == UInt8(ascii: "-") { position += 1 }
        guard let first = peek, first >= 0x30, first <= 0x39 else { throw error("invalid number") }
        if first == 0x30 {
            position += 1
            if let next = peek, next >= 0x30, next <= 0x39 { throw error("leading zero in number") }
        } else {
            skipDigits()
        }
        if peek == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard skipDigits() > 0 else { throw error("expected digits after '.'") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { position += 1 }
            guard skipDigits() > 0 else { throw error("expected digits in exponent") }
        }
        return isInteger
    }

    @discardableResult
    mutating func skipDigits() -> Int {
        let start = position
        while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
        return position - start
    }

    /// Decimal digits (optionally negative) to Int64, nil on overflow.
    static func int64(_ text: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative { index = 1 }
        var value: Int64 = 0
        while index < text.count {
            let digit = Int64(text[index] &- 0x30)
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = next
            index += 1
        }
        return value
    }

    mutating func parseString() throws(JSONParser.Error) -> String {
        position += 1  // the opening quote
        let start = position
        // Fast path: no escapes. Find the closing quote, rejecting control characters; ASCII
        // text needs no UTF-8 validation (the generic validator costs far more than the scan).
        var isASCII = true
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
                let string: String
                if isASCII {
                    string = String(decoding: slice, as: UTF8.self)
                } else {
                    guard let valid = String(validating: slice, as: UTF8.self) else {
                        throw JSONParser.Error(offset: start, reason: "invalid UTF-8 in string")
                    }
                    string = valid
                }
                position += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("control character in string") }
            if byte >= 0x80 { isASCII = false }
            position += 1
        }
        guard position < bytes.count else { throw error("unterminated string") }
        // Slow path: copy and unescape.
        var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: out, as: UTF8.self) else {
                    throw JSONParser.Error(offset: start, reason: "invalid UTF-8 in string")
                }
                position += 1
                return string
            case UInt8(ascii: "\\"):
                position += 1
                guard let escape = peek else { throw error("unterminated string") }
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar <= 0xDBFF {
                        guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        else { throw error("lone high surrogate") }
                        position += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low <= 0xDFFF else { throw error("invalid low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                        throw error("lone low surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                    UTF8.encode(unicode) { out.append($0) }
                default:
                    throw error("invalid escape")
                }
            default:
                if byte < 0x20 { throw error("control character in string") }
                out.append(byte)
                position += 1
            }
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws(JSONParser.Error) -> UInt32 {
        guard bytes.count - position >= 4 else { throw error("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
