/// Where and how to reach Redis, usually from `REDIS_URL`.
///
/// `redis://[[user]:password@]host[:port][/db]`: the password (and user, for Redis 6 ACLs)
/// is sent with `AUTH` and the database with `SELECT` on every (re)connect, before any
/// other command. No TLS (`rediss://`): hiredis 0.14 has none.
public struct RedisConfiguration: Sendable, Hashable {
    /// A numeric address avoids a blocking `getaddrinfo` on the loop at each (re)connect:
    /// hiredis resolves names synchronously. `localhost` is cheap (/etc/hosts).
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var database: Int
    /// How long a command may wait for its reply before it fails with ``RedisError/Code/timedOut``.
    public var commandTimeout: Duration
    /// How many commands one connection may have waiting for replies; past it a command
    /// fails at once with ``RedisError/Code/overloaded`` (a hung server never piles up
    /// more than this, whatever the load).
    public var maxPendingCommands: Int
    /// TCP keepalive: idle time before the first probe, and the gap between probes (three
    /// unanswered probes drop the connection). Finds a peer that vanished (host down, a
    /// partition) on a connection with nothing in flight; a hung server whose kernel still
    /// answers is found by the command timeout instead.
    public var keepAliveIdle: Duration
    public var keepAliveInterval: Duration
    /// How long one connection attempt may take.
    public var connectTimeout: Duration
    /// The first reconnect delay; doubled per failed attempt up to ``maximumBackoff``, with jitter.
    public var initialBackoff: Duration
    public var maximumBackoff: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 6379, user: String? = nil, password: String? = nil,
        database: Int = 0, commandTimeout: Duration = .seconds(1), connectTimeout: Duration = .seconds(1),
        initialBackoff: Duration = .milliseconds(20), maximumBackoff: Duration = .seconds(2),
        maxPendingCommands: Int = 4096, keepAliveIdle: Duration = .seconds(10), keepAliveInterval: Duration = .seconds(5)
    ) {
        precondition(maxPendingCommands > 0)
        self.maxPendingCommands = maxPendingCommands
        self.keepAliveIdle = keepAliveIdle
        self.keepAliveInterval = keepAliveInterval
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.commandTimeout = commandTimeout
        self.connectTimeout = connectTimeout
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// Parses a `redis://` URL; the timeouts and backoff keep their defaults.
    /// - Throws: ``RedisError/Code/invalidConfiguration`` for another scheme, a bad port or database.
    public init(url: String) throws {
        self.init()
        let scheme = "redis://"
        guard url.hasPrefix(scheme) else {
            throw RedisError(.invalidConfiguration, message: "the Redis URL must start with redis://")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        // Path: /db
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else {
                    throw RedisError(.invalidConfiguration, message: "the database in the Redis URL must be a number")
                }
                database = db
            }
        }
        // Credentials: [user]:password@ (the last @, since passwords may contain one).
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let name = credentials[..<colon]
                user = name.isEmpty ? nil : Self.percentDecoded(name)
                password = Self.percentDecoded(credentials[credentials.index(after: colon)...])
            } else if !credentials.isEmpty {
                password = Self.percentDecoded(credentials)
            }
        }
        // Host and port; [v6]:port.
        var hostPart = rest
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { try setPort(after.dropFirst()) }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            try setPort(rest[rest.index(after: colon)...])
        }
        if !hostPart.isEmpty { host = String(hostPart) }
    }

    private mutating func setPort(_ text: Substring) throws {
        guard let value = Int(text), (1...65535).contains(value) else {
            throw RedisError(.invalidConfiguration, message: "the port in the Redis URL must be 1-65535")
        }
        port = value
    }

    /// `%XX` escapes decoded (passwords with `@`, `:` or `/`); malformed escapes stay as they are.
    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension RedisConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    /// `redis://***@host:port/db` when there are credentials: the password never reaches a
    /// log line or an error message through string interpolation.
    public var description: String {
        "redis://\(user != nil || password != nil ? "***@" : "")\(host):\(port)/\(database)"
    }

    public var debugDescription: String { description }
}
