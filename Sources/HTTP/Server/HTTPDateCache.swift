#if canImport(Glibc)
import Glibc
#endif


/// The `Date` field line (`Date: ...` CRLF), formatted once a second per loop.
final class HTTPDateCache: @unchecked Sendable {
    private var second = -1
    private var line: [UInt8] = []

    func currentField() -> [UInt8] {
        let now = Int(time(nil))
        if now != second {
            second = now
            line = Array("Date: \(HTTPDate.format(secondsSince1970: now))\r\n".utf8)
        }
        return line
    }
}
