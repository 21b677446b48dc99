/// An `http://` or `https://` URL split into what a connection needs.
///
/// Parsed by hand (no Foundation `URL`): the accepted form is small and the errors should
/// say exactly what is wrong with the text a person typed.
public struct TargetURL: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    /// The path prefix without a trailing slash ("" for the root).
    public var basePath: String

    public var isTLS: Bool { scheme == "https" }

    /// The `Host` header value: the port only when it is not the scheme's default.
    public var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let defaultPort = isTLS ? 443 : 80
        return port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    public var description: String { "\(scheme)://\(hostHeader)\(basePath)" }

    /// Parses `text`; schemes other than http and https are refused.
    public init(_ text: String, allowedSchemes: Set<String> = ["http", "https"]) throws(LoadTestError) {
        guard let schemeEnd = text.firstRange(of: "://") else {
            throw LoadTestError(.invalidArgument, "URL '\(text)' has no scheme (expected http://host:port)")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard allowedSchemes.contains(scheme) else {
            throw LoadTestError(
                .invalidArgument, "URL '\(text)': scheme '\(scheme)' is not one of \(allowedSchemes.sorted())")
        }
        var rest = text[schemeEnd.upperBound...]
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }  // credentials: not ours
        var host = String(rest)
        var port: Int? = nil
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw LoadTestError(.invalidArgument, "URL '\(text)': unterminated IPv6 address")
            }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()) ?? -1 }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            port = Int(host[host.index(after: colon)...]) ?? -1
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { throw LoadTestError(.invalidArgument, "URL '\(text)' has no host") }
        let defaultPort = switch scheme {
        case "https": 443
        case "redis": 6379
        default: 80
        }
        let resolvedPort = port ?? defaultPort
        guard (1...65535).contains(resolvedPort) else {
            throw LoadTestError(.invalidArgument, "URL '\(text)' has an invalid port")
        }
        while path.hasSuffix("/") { path.removeLast() }
        self.scheme = scheme
        self.host = host
        self.port = resolvedPort
        self.basePath = path
    }
}
