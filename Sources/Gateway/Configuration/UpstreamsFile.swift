import HTTP

/// The format of `UPSTREAMS_FILE`: several instances per upstream.
///
/// One line per upstream (or several lines for one upstream; they add up): its name, then
/// one or more base URLs separated by spaces or commas. `#` starts a comment.
///
/// ```
/// # name      instances
/// users       http://127.0.0.1:8001
/// movies      http://127.0.0.1:8002 http://127.0.0.1:8012
/// movies      http://10.0.0.7:8002
/// watchlist   http://127.0.0.1:8003
/// ```
///
/// Names: `users` (also `user`, `user-service`), `movies` (`movie`, `movie-service`),
/// `watchlist` (`watchlist-service`). An upstream named in the file takes its instances
/// from the file only; the others keep `*_SERVICE_URL`.
public enum UpstreamsFile {
    /// Parses the file's text into instance URLs per upstream.
    /// - Throws: ``GatewayError`` `.invalidUpstreamsFile` naming the line.
    public static func parse(_ text: String) throws(GatewayError) -> [UpstreamService: [UpstreamURL]] {
        var result: [UpstreamService: [UpstreamURL]] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," || $0 == "\r" })
            guard let name = words.first else { continue }
            guard let service = UpstreamService(fileName: String(name)) else {
                throw GatewayError(.invalidUpstreamsFile, "line \(number + 1): unknown upstream '\(name)'")
            }
            guard words.count > 1 else {
                throw GatewayError(.invalidUpstreamsFile, "line \(number + 1): '\(name)' lists no instance")
            }
            for word in words.dropFirst() {
                guard let url = UpstreamURL(String(word)) else {
                    throw GatewayError(.invalidUpstreamsFile, "line \(number + 1): '\(word)' is not an http:// URL")
                }
                result[service, default: []].append(url)
            }
        }
        return result
    }
}

/// One upstream instance's base URL: `http://host:port` (a path, if given, is ignored:
/// the gateway forwards the client's path).
public struct UpstreamURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `http://host[:port][/...]`; nil for other schemes or a malformed authority.
    /// The authority rules are the HTTP client's (``HTTPOrigin/split(url:)``), so an upstream
    /// URL means the same to the gateway as to every other caller.
    public init?(_ text: String) {
        guard let (origin, _) = HTTPOrigin.split(url: text.trimmedSpaces), origin.scheme == "http" else { return nil }
        self.init(host: origin.host, port: origin.port)
    }

    public var description: String {
        host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }
}
