/// Where a request goes: scheme, host and port. The key of the connection pools.
public struct HTTPOrigin: Hashable, Sendable, CustomStringConvertible {
    /// `http` or `https` (lower case).
    public var scheme: String
    /// A name or a numeric address; IPv6 without brackets.
    public var host: String
    public var port: Int

    public init(scheme: String = "http", host: String, port: Int? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port ?? (scheme == "https" ? 443 : 80)
    }

    public var isTLS: Bool { scheme == "https" }

    /// The value of a `Host` header for this origin: the port only when it is not the
    /// scheme's default, IPv6 in brackets.
    public var hostHeader: String {
        let name = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        let defaultPort = isTLS ? 443 : 80
        return port == defaultPort ? name : "\(name):\(port)"
    }

    public var description: String { "\(scheme)://\(hostHeader)" }

    /// Splits an absolute URL into its origin and its origin-form target (`/path?query`).
    ///
    /// Only what service-to-service calls use: `http` or `https`, a host, an optional port,
    /// no user info; the fragment is dropped. Returns nil for anything else.
    public static func split(url: String) -> (origin: HTTPOrigin, target: String)? {
        let bytes = url.utf8
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let scheme = String(url[..<colon]).lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        let rest = url[colon...]
        guard rest.hasPrefix("://") else { return nil }
        let authorityStart = rest.utf8.index(rest.startIndex, offsetBy: 3)
        let afterScheme = url[authorityStart...]
        let authorityEnd =
            afterScheme.utf8.firstIndex(where: {
                $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#")
            }) ?? url.endIndex
        let authority = url[authorityStart..<authorityEnd]
        guard !authority.isEmpty, !authority.utf8.contains(UInt8(ascii: "@")) else { return nil }
        var host: Substring
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let tail = authority[authority.index(after: close)...]
            if !tail.isEmpty {
                guard tail.hasPrefix(":"), let value = Int(tail.dropFirst()) else { return nil }
                port = value
            }
        } else if let portColon = authority.lastIndex(of: ":") {
            host = authority[..<portColon]
            guard let value = Int(authority[authority.index(after: portColon)...]) else { return nil }
            port = value
        } else {
            host = authority
        }
        if let port, !(1...65535).contains(port) { return nil }
        guard !host.isEmpty else { return nil }
        var target = String(url[authorityEnd...])
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        if target.isEmpty {
            target = "/"
        } else if target.hasPrefix("?") {
            target = "/" + target
        }
        return (HTTPOrigin(scheme: scheme, host: String(host), port: port), target)
    }
}
