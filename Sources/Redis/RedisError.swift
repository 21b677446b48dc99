/// Why a Redis call failed.
///
/// One public struct with an extensible ``Code``, as every Marquee module has: callers match on
/// `error.code == .notConnected` and new codes never break them. ``description`` never shows
/// keys or values; the server's message (for ``Code/server``) is in ``message``.
public struct RedisError: Error, Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, independent of the command that saw it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case connectionClosed, notConnected, timedOut, overloaded, server, protocolError, invalidConfiguration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The connection dropped (or was closed by us) while the command waited for its reply.
        /// The command may or may not have run on the server.
        public static let connectionClosed = Code(.connectionClosed)
        /// The connection is down (reconnecting): the command was not sent. Commands are never
        /// queued behind a dead server; they fail at once so that callers can fall back.
        public static let notConnected = Code(.notConnected)
        /// No reply within the command timeout. The reply, if it ever comes, is dropped.
        public static let timedOut = Code(.timedOut)
        /// The connection already has ``RedisConfiguration/maxPendingCommands`` commands
        /// waiting for replies: the command was not sent.
        public static let overloaded = Code(.overloaded)
        /// The server answered with an error reply (`-ERR ...`, `-NOSCRIPT ...`).
        public static let server = Code(.server)
        /// The reply did not have the shape the command expects.
        public static let protocolError = Code(.protocolError)
        /// The URL or the settings are not usable.
        public static let invalidConfiguration = Code(.invalidConfiguration)

        public var description: String {
            switch base {
            case .connectionClosed: "connection closed"
            case .notConnected: "not connected"
            case .timedOut: "timed out"
            case .overloaded: "too many commands in flight"
            case .server: "server error"
            case .protocolError: "unexpected reply"
            case .invalidConfiguration: "invalid configuration"
            }
        }
    }

    public let code: Code
    /// The server's error message for ``Code/server`` (e.g. `"NOSCRIPT No matching script..."`),
    /// else a short detail; may name keys, so it is kept out of ``description``.
    public let message: String
    public let file: String
    public let line: Int

    public init(_ code: Code, message: String = "", file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// The first word of a server error (`"NOSCRIPT"`, `"WRONGTYPE"`), or nil.
    public var serverErrorKind: String? {
        guard code == .server else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    public var description: String {
        if let kind = serverErrorKind { return "Redis: \(code) (\(kind))" }
        return "Redis: \(code)"
    }

    public var debugDescription: String {
        "Redis: \(code): \(message) [\(file):\(line)]"
    }
}
