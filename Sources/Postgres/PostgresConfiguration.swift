/// Where and how to connect, usually from a URL such as
/// `postgresql://user:pass@127.0.0.1:5432/userdb`.
///
/// Every connection also sets `TimeZone=UTC` (so `timestamptz` text is UTC and decodes
/// without a time zone database) and, unless ``statementTimeout`` is nil, `statement_timeout`.
///
/// Two bounds keep a query from hanging its caller: ``queryTimeout`` on our side (the caller
/// is answered when it passes, and the server is asked to cancel), and `statement_timeout`
/// on the server's (which stops a statement even when our cancel cannot reach it).
public struct PostgresConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// The server cancels statements that run longer (SQLSTATE 57014, `.queryCanceled`);
    /// nil sets none.
    public var statementTimeout: Duration? = .seconds(10)
    /// The client-side deadline of every query, counted from the moment it reaches the pool
    /// (waiting for a connection included): past it the caller gets `.queryTimeout` and the
    /// server a cancel request. Below the gateway's upstream response timeout (30 s), so that
    /// a client always hears from the service rather than from the gateway.
    public var queryTimeout: Duration = .seconds(10)

    /// How long one connection attempt may take before it counts as failed.
    public var connectTimeout: Duration = .seconds(1)
    /// Shown in `pg_stat_activity`.
    public var applicationName: String = "marquee"

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// Parses `postgresql://` (or `postgres://`) URLs: user and password are percent-decoded,
    /// the port defaults to 5432, the database to the user's name. Query parameters:
    /// `sslmode=disable` (and `prefer`/`allow`, which libpq would fall back from) are accepted
    /// and ignored since we speak plain TCP to 127.0.0.1, `application_name` is used, and
    /// `statement_timeout` (milliseconds, 0 for none) sets ``statementTimeout``; others are refused.
    /// - Throws: ``PostgresError`` `.invalidURL`, naming what is wrong (never the password).
    public init(url: String) throws(PostgresError) {
        func invalid(_ why: String) -> PostgresError { PostgresError(.invalidURL, message: "bad PostgreSQL URL: \(why)") }
        var rest = Substring(url)
        if rest.hasPrefix("postgresql://") {
            rest = rest.dropFirst("postgresql://".count)
        } else if rest.hasPrefix("postgres://") {
            rest = rest.dropFirst("postgres://".count)
        } else {
            throw invalid("it must start with postgresql://")
        }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try Self.percentDecoded(userInfo[..<colon], invalid)
                password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], invalid)
            } else {
                user = try Self.percentDecoded(userInfo, invalid)
            }
        }
        var host: Substring = rest
        var port = 5432
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw invalid("unclosed [ in the host") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else { throw invalid("bad port") }
                port = value
            } else if !after.isEmpty {
                throw invalid("unexpected text after the host")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let value = Int(rest[rest.index(after: colon)...]), (1...65535).contains(value) else {
                throw invalid("bad port")
            }
            port = value
        }
        guard !host.isEmpty else { throw invalid("no host") }
        guard let user, !user.isEmpty else { throw invalid("no user name") }
        let database = path.isEmpty ? user : try Self.percentDecoded(path, invalid)
        self.init(host: String(host), port: port, user: user, password: password, database: database)
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0]
            let value = parts.count > 1 ? try Self.percentDecoded(parts[1], invalid) : ""
            switch key {
            case "sslmode":
                guard ["disable", "allow", "prefer"].contains(value) else {
                    throw invalid("sslmode=\(value) is not supported (plain TCP only)")
                }
            case "application_name":
                applicationName = value
            case "statement_timeout":
                guard let milliseconds = Int(value), milliseconds >= 0 else { throw invalid("bad statement_timeout") }
                statementTimeout = milliseconds == 0 ? nil : .milliseconds(milliseconds)
            default:
                throw invalid("unknown parameter '\(key)'")
            }
        }
    }

    private static func percentDecoded(
        _ text: Substring, _ invalid: (String) -> PostgresError
    ) throws(PostgresError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw invalid("bad percent escape")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw invalid("percent escape is not UTF-8") }
        return decoded
    }

    /// The keyword/value pairs for `PQconnectStartParams`.
    ///
    /// - Parameter hostAddress: the numeric address `host` resolved to, passed as `hostaddr`
    ///   so that libpq never calls getaddrinfo itself: that blocks, and libpq would do it on
    ///   an event loop. nil for a numeric host or a socket directory.
    func libpqParameters(hostAddress: String? = nil) -> [(String, String)] {
        var options = "-c TimeZone=UTC"
        if let statementTimeout {
            let milliseconds = max(1, statementTimeout.nanoseconds / 1_000_000)
            options += " -c statement_timeout=\(milliseconds)"
        }
        var pairs: [(String, String)] = [
            ("host", host), ("port", String(port)), ("user", user), ("dbname", database),
            ("options", options), ("application_name", applicationName), ("sslmode", "disable"),
            ("client_encoding", "UTF8"),
        ]
        if let password { pairs.append(("password", password)) }
        if let hostAddress { pairs.append(("hostaddr", hostAddress)) }
        return pairs
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

extension PostgresConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    /// `postgresql://user:***@host:port/database`: the password never reaches a log line or
    /// an error message through string interpolation.
    public var description: String {
        "postgresql://\(user)\(password != nil ? ":***" : "")@\(host):\(port)/\(database)"
    }

    public var debugDescription: String { description }
}
