/// Just enough RESP (the Redis protocol) to read the reply to `INFO stats`.
///
/// Deliberately tiny and independent of the `Redis` module: the load generator should be
/// able to look at a Redis server without linking hiredis.
public enum RESPReply: Equatable, Sendable {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8]?)

    /// The encoded command `args` (an array of bulk strings), as Redis expects requests.
    public static func command(_ args: [String]) -> [UInt8] {
        var out = Array("*\(args.count)\r\n".utf8)
        for arg in args {
            out += Array("$\(arg.utf8.count)\r\n".utf8)
            out += Array(arg.utf8)
            out += [13, 10]
        }
        return out
    }

    /// Parses one reply at the front of `bytes`: the reply and the bytes it used, nil when
    /// more bytes are needed.
    /// - Throws: ``LoadTestError/Code/badResponse`` for anything that is not RESP (or is an array).
    public static func parse(_ bytes: ArraySlice<UInt8>) throws(LoadTestError) -> (RESPReply, Int)? {
        guard let type = bytes.first else { return nil }
        guard let lineEnd = findCRLF(bytes) else { return nil }
        let line = String(decoding: bytes[(bytes.startIndex + 1)..<lineEnd], as: UTF8.self)
        let afterLine = lineEnd + 2
        switch type {
        case UInt8(ascii: "+"): return (.simple(line), afterLine - bytes.startIndex)
        case UInt8(ascii: "-"): return (.error(line), afterLine - bytes.startIndex)
        case UInt8(ascii: ":"):
            guard let value = Int(line) else { throw LoadTestError(.badResponse, "RESP: bad integer '\(line)'") }
            return (.integer(value), afterLine - bytes.startIndex)
        case UInt8(ascii: "$"):
            guard let length = Int(line), length >= -1 else {
                throw LoadTestError(.badResponse, "RESP: bad bulk length '\(line)'")
            }
            if length == -1 { return (.bulk(nil), afterLine - bytes.startIndex) }
            guard bytes.endIndex - afterLine >= length + 2 else { return nil }
            return (.bulk(Array(bytes[afterLine..<afterLine + length])), afterLine + length + 2 - bytes.startIndex)
        default:
            throw LoadTestError(.badResponse, "RESP: unexpected reply type byte \(type)")
        }
    }

    private static func findCRLF(_ bytes: ArraySlice<UInt8>) -> Int? {
        var index = bytes.startIndex
        while index + 1 < bytes.endIndex {
            if bytes[index] == 13 && bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }
}

/// The `field:value` lines of an `INFO` reply.
public enum RedisInfo {
    public static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return fields
    }
}
