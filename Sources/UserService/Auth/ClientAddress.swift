import HTTP

/// Which address a login attempt comes from, for per-client throttling.
///
/// Behind the gateway every request arrives from the gateway's address, so that address
/// alone would throttle everyone together. The gateway appends the address it saw to
/// `X-Forwarded-For` (other proxies may set `X-Real-IP`); we believe those headers only when the
/// connection itself comes from a trusted proxy (`TRUSTED_PROXIES`), because anyone who can
/// reach the service's port directly could otherwise claim a fresh address per attempt.
public struct ClientAddress: Sendable {
    /// Exact addresses and IPv4 CIDR blocks (`10.0.0.0/8`).
    public let trusted: [String]

    public init(trusted: [String]) {
        self.trusted = trusted
    }

    /// The client's address as text, nil when the request has no peer (in-process calls).
    public func resolve(_ request: HTTPServerRequest) -> String? {
        guard let peer = request.remoteHost else { return nil }
        guard isTrusted(peer) else { return peer }
        // The last X-Forwarded-For element is the one the gateway itself appended (earlier
        // ones are whatever the client claimed); X-Real-IP is the fallback for other proxies.
        if let forwarded = request.headers["X-Forwarded-For"],
            let last = forwarded.split(separator: ",").last, let value = Self.sane(String(last))
        {
            return value
        }
        if let real = request.headers["X-Real-IP"], let value = Self.sane(real) { return value }
        return peer
    }

    func isTrusted(_ address: String) -> Bool {
        trusted.contains { entry in
            if entry == address { return true }
            guard let slash = entry.firstIndex(of: "/"), let bits = Int(entry[entry.index(after: slash)...]),
                bits >= 0, bits <= 32,
                let network = Self.ipv4(String(entry[..<slash])), let value = Self.ipv4(address)
            else { return false }
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << UInt32(32 - bits)
            return network & mask == value & mask
        }
    }

    /// A header value that looks like an address (hex digits, dots, colons), trimmed; nil otherwise.
    static func sane(_ value: String) -> String? {
        let trimmed = value.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
        var text = String(trimmed)
        while text.last == " " || text.last == "\t" { text.removeLast() }
        guard !text.isEmpty, text.utf8.count <= 45,
            text.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" })
        else { return nil }
        return text
    }

    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard let byte = UInt8(part) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }
}
