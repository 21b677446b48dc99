#if canImport(Glibc)
import Glibc
#endif

/// A UTC instant with microsecond precision, written as RFC 3339 with `Z`
/// (`2026-11-25T16:22:47Z`, or `2026-11-25T16:22:47.123456Z` when there is a fraction),
/// as API.md fixes. PostgreSQL `timestamptz` carries microseconds, so this does too.
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microseconds: Int64

    public init(microsecondsSinceEpoch: Int64) { microseconds = microsecondsSinceEpoch }

    public init(secondsSinceEpoch: Int64) { microseconds = secondsSinceEpoch * 1_000_000 }

    /// The real-time clock now.
    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(microsecondsSinceEpoch: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    public var secondsSinceEpoch: Int64 {
        microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
    }

    /// The RFC 3339 text.
    public var rfc3339: String {
        var out: [UInt8] = []
        append(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the RFC 3339 text (no quotes); `fractionDigits` 3 for logs, 6 by default.
    public func append(to out: inout [UInt8], fractionDigits: Int = 6) {
        let seconds = secondsSinceEpoch
        let micros = Int(microseconds - seconds * 1_000_000)
        var days = seconds / 86_400
        var secondOfDay = Int(seconds - days * 86_400)
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = Self.civil(fromDays: days)
        func two(_ value: Int) {
            out.append(UInt8(0x30 + value / 10))
            out.append(UInt8(0x30 + value % 10))
        }
        let y = Int(year)
        two(y / 100 % 100)
        two(y % 100)
        out.append(UInt8(ascii: "-"))
        two(month)
        out.append(UInt8(ascii: "-"))
        two(day)
        out.append(UInt8(ascii: "T"))
        two(secondOfDay / 3600)
        out.append(UInt8(ascii: ":"))
        two(secondOfDay / 60 % 60)
        out.append(UInt8(ascii: ":"))
        two(secondOfDay % 60)
        if micros != 0 || fractionDigits == 3 {
            out.append(UInt8(ascii: "."))
            var digits = fractionDigits
            var value = micros
            if digits == 3 { value /= 1000 }
            var scale = digits == 3 ? 100 : 100_000
            if fractionDigits == 6 {
                // Drop trailing zeros: .5Z rather than .500000Z.
                while digits > 1 && value % 10 == 0 {
                    value /= 10
                    digits -= 1
                }
                scale = 1
                for _ in 1..<digits { scale *= 10 }
            }
            while scale > 0 {
                out.append(UInt8(0x30 + value / scale % 10))
                scale /= 10
            }
        }
        out.append(UInt8(ascii: "Z"))
    }

    /// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (Int64, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
