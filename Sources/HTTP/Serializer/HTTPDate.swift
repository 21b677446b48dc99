/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) for `Date` headers,
/// without Foundation.
///
/// A server formats it once a second per loop and reuses the bytes, so this is simple
/// rather than clever.
public enum HTTPDate {
    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The IMF-fixdate of a Unix time (seconds since 1970-01-01T00:00:00Z, UTC).
    public static func format(secondsSince1970 seconds: Int) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(29)
        write(secondsSince1970: seconds, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the IMF-fixdate of a Unix time to `buffer` (29 bytes).
    public static func write(secondsSince1970 seconds: Int, into buffer: inout [UInt8]) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilDate(daysSince1970: days)
        let weekday = ((days % 7) + 7) % 7
        buffer.append(contentsOf: weekdays[weekday].utf8)
        buffer.append(contentsOf: ", ".utf8)
        appendTwoDigits(day, to: &buffer)
        buffer.append(UInt8(ascii: " "))
        buffer.append(contentsOf: months[month - 1].utf8)
        buffer.append(UInt8(ascii: " "))
        appendTwoDigits(year / 100, to: &buffer)
        appendTwoDigits(year % 100, to: &buffer)
        buffer.append(UInt8(ascii: " "))
        appendTwoDigits(secondOfDay / 3600, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        appendTwoDigits(secondOfDay / 60 % 60, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        appendTwoDigits(secondOfDay % 60, to: &buffer)
        buffer.append(contentsOf: " GMT".utf8)
    }

    /// Year, month (1...12) and day (1...31) of a day count, in the proleptic Gregorian
    /// calendar: count 400-year eras of 146 097 days, then years within the era, with the
    /// year taken to start on 1 March so that the leap day falls at its end. (The log
    /// lines' timestamps use it too.)
    public static func civilDate(daysSince1970 days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468  // days from 0000-03-01 to 1970-01-01
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func appendTwoDigits(_ value: Int, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "0") + UInt8(value / 10 % 10))
        buffer.append(UInt8(ascii: "0") + UInt8(value % 10))
    }
}
