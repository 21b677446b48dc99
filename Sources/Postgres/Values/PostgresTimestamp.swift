/// A point in time with microsecond precision, as PostgreSQL's `timestamptz` stores it:
/// microseconds since 1970-01-01T00:00:00Z. Our own type rather than Foundation's `Date`,
/// which we keep off hot paths; it formats as RFC 3339 UTC (`2026-11-25T16:22:47.123456Z`).
public struct PostgresTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since the Unix epoch (negative before 1970).
    public var microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// - Parameters:
    ///   - seconds: whole seconds since the epoch.
    ///   - microseconds: 0 ..< 1_000_000 added to them.
    public init(secondsSinceEpoch seconds: Int64, microseconds: Int64 = 0) {
        microsecondsSinceEpoch = seconds * 1_000_000 + microseconds
    }

    /// Whole seconds since the epoch (rounded down).
    public var secondsSinceEpoch: Int64 {
        let (quotient, remainder) = microsecondsSinceEpoch.quotientAndRemainder(dividingBy: 1_000_000)
        return remainder < 0 ? quotient - 1 : quotient
    }

    /// The microseconds within the second, 0 ..< 1_000_000.
    public var microsecondsOfSecond: Int64 {
        microsecondsSinceEpoch - secondsSinceEpoch * 1_000_000
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch }

    /// RFC 3339 in UTC with a `Z`; the fraction has six digits, or none when it is zero.
    public var rfc3339: String {
        let (year, month, day) = Self.civil(fromDays: floorDiv(secondsSinceEpoch, 86_400))
        let secondOfDay = secondsSinceEpoch - floorDiv(secondsSinceEpoch, 86_400) * 86_400
        var text = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T"
        text += pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        if microsecondsOfSecond != 0 { text += "." + pad(microsecondsOfSecond, 6) }
        return text + "Z"
    }

    public var description: String { rfc3339 }

    /// Parses RFC 3339 (`2026-11-25T16:22:47.123456Z`, `+02:00` offsets, `T` or a space) and
    /// PostgreSQL's own text output (`2026-11-25 16:22:47.123456+00`). Fractions beyond
    /// microseconds are truncated. Returns nil for anything else (including `infinity`).
    public init?(parsing text: String) {
        var utf8 = Array(text.utf8)
        guard let value = utf8.withUnsafeMutableBytes({ Self.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = value
    }

    /// The parser on raw bytes, shared with row decoding (no String in between).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> PostgresTimestamp? {
        var cursor = TimestampCursor(bytes: bytes)
        let dash = UInt8(ascii: "-")
        let colon = UInt8(ascii: ":")
        guard let year = cursor.digits(4), cursor.skip(dash), let month = cursor.digits(2), cursor.skip(dash),
            let day = cursor.digits(2), (1...12).contains(month), (1...31).contains(day),
            cursor.skip(UInt8(ascii: "T"), or: UInt8(ascii: "t"), or: UInt8(ascii: " ")),
            let hour = cursor.digits(2), cursor.skip(colon), let minute = cursor.digits(2), cursor.skip(colon),
            let second = cursor.digits(2), hour < 24, minute < 60, second < 61
        else { return nil }
        var micros: Int64 = 0
        if cursor.skip(UInt8(ascii: ".")) {
            var scale: Int64 = 100_000
            var sawDigit = false
            while let digit = cursor.digit() {
                micros += digit * scale
                scale /= 10
                sawDigit = true
            }
            guard sawDigit else { return nil }
        }
        var offsetSeconds: Int64 = 0
        // A zone is required: no local times.
        if !cursor.skip(UInt8(ascii: "Z"), or: UInt8(ascii: "z")) {
            let sign: Int64
            if cursor.skip(UInt8(ascii: "+")) {
                sign = 1
            } else if cursor.skip(dash) {
                sign = -1
            } else {
                return nil
            }
            guard let hours = cursor.digits(2) else { return nil }
            var minutes: Int64 = 0
            var seconds: Int64 = 0
            if cursor.skip(colon) {
                guard let value = cursor.digits(2) else { return nil }
                minutes = value
                if cursor.skip(colon) {
                    guard let value = cursor.digits(2) else { return nil }
                    seconds = value
                }
            } else if let value = cursor.digits(2) {
                minutes = value
            }
            offsetSeconds = sign * (hours * 3600 + minutes * 60 + seconds)
        }
        guard cursor.isAtEnd else { return nil }
        let days = days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return PostgresTimestamp(microsecondsSinceEpoch: seconds * 1_000_000 + micros)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of ``days(fromCivil:_:_:)``.
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let (quotient, remainder) = a.quotientAndRemainder(dividingBy: b)
    return remainder < 0 ? quotient - 1 : quotient
}

private func pad(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

/// Reads a timestamp's text byte by byte: runs for every timestamp of every row, so no
/// String and no closure in the way.
private struct TimestampCursor {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    var isAtEnd: Bool { index == bytes.count }

    /// The next byte as a digit's value (and moves past it); nil when it is not a digit.
    mutating func digit() -> Int64? {
        guard index < bytes.count else { return nil }
        let value = bytes[index] &- UInt8(ascii: "0")
        guard value < 10 else { return nil }
        index += 1
        return Int64(value)
    }

    /// The next `count` bytes as a decimal number; nil (having moved) unless all are digits.
    mutating func digits(_ count: Int) -> Int64? {
        var value: Int64 = 0
        for _ in 0..<count {
            guard let digit = digit() else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    /// Moves past the next byte when it is `a`, `b` or `c`.
    mutating func skip(_ a: UInt8, or b: UInt8? = nil, or c: UInt8? = nil) -> Bool {
        guard index < bytes.count else { return false }
        let byte = bytes[index]
        guard byte == a || byte == b || byte == c else { return false }
        index += 1
        return true
    }
}
