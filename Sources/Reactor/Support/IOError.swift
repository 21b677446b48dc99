#if canImport(Glibc)
import Glibc
#endif

/// An error from the operating system or from the reactor's own I/O rules.
///
/// One public struct with an extensible ``Code``, as every Marquee module has: callers
/// match on `error.code == .timedOut` and new codes never break them.
public struct IOError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, independent of the call that saw it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case system, closed, timedOut, cancelled, eof, addressResolution, loopStopped
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A system call failed; `errno` says why.
        public static let system = Code(.system)
        /// The socket was closed (by us) while an operation waited on it.
        public static let closed = Code(.closed)
        /// A deadline passed before the operation completed.
        public static let timedOut = Code(.timedOut)
        /// The waiting task was cancelled.
        public static let cancelled = Code(.cancelled)
        /// The peer closed the connection before the operation completed.
        public static let eof = Code(.eof)
        /// A host name could not be resolved.
        public static let addressResolution = Code(.addressResolution)
        /// The event loop stopped before the operation completed.
        public static let loopStopped = Code(.loopStopped)

        public var description: String {
            switch base {
            case .system: "system call failed"
            case .closed: "socket closed"
            case .timedOut: "timed out"
            case .cancelled: "cancelled"
            case .eof: "connection closed by peer"
            case .addressResolution: "address resolution failed"
            case .loopStopped: "event loop stopped"
            }
        }
    }

    public let code: Code
    /// The `errno` value for ``Code/system`` errors, else 0.
    public let errno: Int32
    /// The operation that failed, for example `"connect"`.
    public let operation: String

    public init(_ code: Code, operation: String, errno: Int32 = 0) {
        self.code = code
        self.operation = operation
        self.errno = errno
    }

    /// An error for a failed system call, reading the caller's `errno`.
    public static func system(_ operation: String, errno: Int32) -> IOError {
        IOError(.system, operation: operation, errno: errno)
    }

    public var description: String {
        if code == .system {
            return "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
        }
        return "\(operation): \(code)"
    }

    /// True when the peer reset or closed the connection under us (ECONNRESET, EPIPE, EOF).
    public var isConnectionLost: Bool {
        code == .eof || (code == .system && (errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN))
    }
}
