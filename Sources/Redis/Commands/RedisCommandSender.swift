/// Anything that can send Redis commands: one ``RedisConnection`` or the per-loop ``RedisClient``.
/// The typed commands (``get(_:)``, ``set(_:_:expireSeconds:)``...) are built on these two.
public protocol RedisCommandSender: Sendable {
    /// Sends one command (name first, binary-safe arguments) and waits for its reply.
    /// - Throws: ``RedisError``; an error reply is ``RedisError/Code/server``.
    func send(_ command: [[UInt8]]) async throws -> RedisValue

    /// Sends one encoded command and waits for its reply as read (no value tree built).
    /// - Throws: ``RedisError``; an error reply is ``RedisError/Code/server``.
    func send(_ command: RedisCommand) async throws -> RedisReply

    /// Sends several commands back to back and waits for all their replies, in order.
    func pipeline(_ commands: [[[UInt8]]]) async -> [Result<RedisValue, RedisError>]
}

extension RedisCommandSender {
    /// ``send(_:)`` for text arguments.
    public func send(_ command: [String]) async throws -> RedisValue {
        try await send(command.map { Array($0.utf8) })
    }

    /// `PING`: a round trip (health checks).
    public func ping() async throws {
        let reply = try await send([Array("PING".utf8)])
        guard reply == .status("PONG") else { throw RedisError(.protocolError, message: "PING answered \(reply)") }
    }

    /// `GET key`. - Returns: the value, or nil when the key does not exist.
    public func get(_ key: String) async throws -> [UInt8]? {
        var command = RedisCommand(argumentCount: 2, capacity: key.utf8.count + 16)
        command.append("GET")
        command.append(key)
        let reply = try await send(command)
        if let bytes = reply.bulkString { return bytes }
        if reply.isNull { return nil }
        throw RedisError(.protocolError, message: "GET answered \(RedisValue(reply))")
    }

    /// `SET key value [EX seconds]`.
    public func set(_ key: String, _ value: [UInt8], expireSeconds: Int? = nil) async throws {
        let reply = try await send(Self.setCommand(key, value, expireSeconds: expireSeconds))
        guard reply == .status("OK") else { throw RedisError(.protocolError, message: "SET answered \(reply)") }
    }

    /// The `SET` command as ``send(_:)``/``pipeline(_:)`` take it (for pipelined write-backs).
    public static func setCommand(_ key: String, _ value: [UInt8], expireSeconds: Int? = nil) -> [[UInt8]] {
        var command = [Array("SET".utf8), Array(key.utf8), value]
        if let expireSeconds {
            command.append(Array("EX".utf8))
            command.append(Array(String(expireSeconds).utf8))
        }
        return command
    }

    /// `MGET key...`. - Returns: one value per key, in order; nil for a missing key.
    public func mget(_ keys: [String]) async throws -> [[UInt8]?] {
        if keys.isEmpty { return [] }
        var command = RedisCommand(argumentCount: keys.count + 1, capacity: keys.count * 32)
        command.append("MGET")
        for key in keys { command.append(key) }
        let reply = try await send(command)
        guard let values = reply.bulkStrings(), values.count == keys.count else {
            throw RedisError(.protocolError, message: "MGET answered \(RedisValue(reply))")
        }
        return values.map { $0.map(Array.init) }
    }

    /// `DEL key...`. - Returns: how many keys existed.
    @discardableResult
    public func del(_ keys: [String]) async throws -> Int {
        if keys.isEmpty { return 0 }
        let reply = try await send([Array("DEL".utf8)] + keys.map { Array($0.utf8) })
        guard case .integer(let count) = reply else {
            throw RedisError(.protocolError, message: "DEL answered \(reply)")
        }
        return count
    }

    /// `EVAL script numkeys key... arg...`.
    public func eval(script: String, keys: [String] = [], args: [[UInt8]] = []) async throws -> RedisValue {
        try await send(Self.scriptCommand("EVAL", Array(script.utf8), keys: keys, args: args))
    }

    /// `EVALSHA sha1 numkeys key... arg...`. - Throws: `.server` with kind `NOSCRIPT` when unknown.
    public func evalsha(sha: String, keys: [String] = [], args: [[UInt8]] = []) async throws -> RedisValue {
        try await send(Self.scriptCommand("EVALSHA", Array(sha.utf8), keys: keys, args: args))
    }

    /// `SCRIPT LOAD script`. - Returns: the script's SHA1 (hex), for ``evalsha(sha:keys:args:)``.
    public func scriptLoad(_ script: String) async throws -> String {
        let reply = try await send([Array("SCRIPT".utf8), Array("LOAD".utf8), Array(script.utf8)])
        guard let sha = reply.text else { throw RedisError(.protocolError, message: "SCRIPT LOAD answered \(reply)") }
        return sha
    }

    /// Runs a script by its SHA1 (sending only the hash), falling back to `EVAL` (which also
    /// caches it on the server) when the server does not know it (`NOSCRIPT`, e.g. after a restart).
    public func evalCached(script: String, keys: [String] = [], args: [[UInt8]] = []) async throws -> RedisValue {
        let sha = SHA1.hexDigest(Array(script.utf8))
        do {
            return try await evalsha(sha: sha, keys: keys, args: args)
        } catch let error as RedisError where error.serverErrorKind == "NOSCRIPT" {
            return try await eval(script: script, keys: keys, args: args)
        }
    }

    /// `INFO [section]`. - Returns: the report text (`key:value` lines under `# Section` headers).
    public func info(section: String? = nil) async throws -> String {
        var command = [Array("INFO".utf8)]
        if let section { command.append(Array(section.utf8)) }
        let reply = try await send(command)
        guard let text = reply.text else { throw RedisError(.protocolError, message: "INFO answered \(reply)") }
        return text
    }

    private static func scriptCommand(_ name: String, _ script: [UInt8], keys: [String], args: [[UInt8]]) -> [[UInt8]] {
        var command = [Array(name.utf8), script, Array(String(keys.count).utf8)]
        command.append(contentsOf: keys.map { Array($0.utf8) })
        command.append(contentsOf: args)
        return command
    }
}
