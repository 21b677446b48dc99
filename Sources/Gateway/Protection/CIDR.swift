#if canImport(Glibc)
import Glibc
#endif

/// An address block (`10.0.0.0/8`, `::1/128`, or a single address): which peers are
/// trusted proxies whose `X-Forwarded-*` headers the gateway keeps, and which clients the
/// rate limit leaves alone.
///
/// IPv4-mapped IPv6 peers (`::ffff:10.1.2.3`) match IPv4 blocks, since a dual-stack
/// listener reports IPv4 clients that way.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes, network order, host bits cleared.
    let network: [UInt8]
    let prefixLength: Int

    /// Parses `address[/prefix]`; nil when malformed.
    public init?(_ text: String) {
        let parts = text.trimmedSpaces.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let bytes = CIDR.addressBytes(String(first)) else { return nil }
        let maxLength = bytes.count * 8
        var length = maxLength
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maxLength).contains(value) else { return nil }
            length = value
        }
        network = CIDR.masked(bytes, prefixLength: length)
        prefixLength = length
    }

    /// Parses a comma- or space-separated list.
    /// - Parameter setting: the setting the list comes from, for the error.
    /// - Throws: ``GatewayError`` `.invalidSetting` naming the setting and the bad entry.
    public static func parseList(_ text: String, setting: String) throws(GatewayError) -> [CIDR] {
        var result: [CIDR] = []
        for part in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
            guard let cidr = CIDR(String(part)) else {
                throw GatewayError(.invalidSetting, "\(setting): '\(part)' is not an address or CIDR block")
            }
            result.append(cidr)
        }
        return result
    }

    /// Whether `address` (numeric text) lies in this block.
    public func contains(_ address: String) -> Bool {
        guard let bytes = CIDR.addressBytes(address) else { return false }
        return contains(bytes: bytes)
    }

    func contains(bytes: [UInt8]) -> Bool {
        var bytes = bytes
        if bytes.count == 16, network.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }),
            bytes[10] == 0xFF, bytes[11] == 0xFF
        {
            bytes = Array(bytes[12..<16])
        }
        guard bytes.count == network.count else { return false }
        return CIDR.masked(bytes, prefixLength: prefixLength) == network
    }

    public var description: String { "\(CIDR.format(network))/\(prefixLength)" }

    /// Whether any block in `list` contains `address`.
    public static func anyContains(_ list: [CIDR], _ address: String) -> Bool {
        guard !list.isEmpty, let bytes = addressBytes(address) else { return false }
        return list.contains { $0.contains(bytes: bytes) }
    }

    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    static func masked(_ bytes: [UInt8], prefixLength: Int) -> [UInt8] {
        var result = bytes
        for index in result.indices {
            let bitsHere = min(max(prefixLength - index * 8, 0), 8)
            let mask: UInt8 = bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
            result[index] &= mask
        }
        return result
    }

    static func format(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        bytes.withUnsafeBytes { raw in
            _ = inet_ntop(bytes.count == 4 ? AF_INET : AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
