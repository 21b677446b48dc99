import COpenSSL

/// An error from the TLS layer: a certificate that does not load, a handshake that fails,
/// a peer that breaks the protocol.
///
/// One public struct with an extensible ``Code``, as every Marquee module has. Errors of
/// the transport underneath (resets, deadlines, `close()`) are not wrapped once a session
/// is established: `read` and `write` throw the socket's `IOError` unchanged, so that the
/// HTTP layer can keep matching `IOError.code == .timedOut` whatever the transport.
public struct TLSError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, independent of the call that saw it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case handshakeFailed, handshakeTimedOut, certificateLoad, keyMismatch, protocolError, closed, configuration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The handshake did not complete (bad ClientHello, no shared cipher or version,
        /// no shared ALPN protocol, a certificate the client refused, the peer went away).
        public static let handshakeFailed = Code(.handshakeFailed)
        /// The handshake did not complete before its deadline (a stalled or silent peer).
        public static let handshakeTimedOut = Code(.handshakeTimedOut)
        /// The certificate chain or the private key could not be read or parsed.
        public static let certificateLoad = Code(.certificateLoad)
        /// The private key does not belong to the certificate.
        public static let keyMismatch = Code(.keyMismatch)
        /// The peer sent something that is not valid TLS after the handshake.
        public static let protocolError = Code(.protocolError)
        /// The stream was closed (by us) before the operation could run.
        public static let closed = Code(.closed)
        /// The configuration is unusable (missing `TLS_CERT`/`TLS_KEY`, a cipher list
        /// OpenSSL refuses, an allocation that failed).
        public static let configuration = Code(.configuration)

        public var description: String {
            switch base {
            case .handshakeFailed: "TLS handshake failed"
            case .handshakeTimedOut: "TLS handshake timed out"
            case .certificateLoad: "certificate or key could not be loaded"
            case .keyMismatch: "private key does not match the certificate"
            case .protocolError: "TLS protocol error"
            case .closed: "TLS stream closed"
            case .configuration: "TLS configuration error"
            }
        }
    }

    public let code: Code
    /// The operation that failed, for example `"handshake"` or `"load certificate"`.
    public let operation: String
    /// OpenSSL's own account (its error queue, joined), or our explanation; never key material.
    public let message: String
    /// The transport error underneath, when there was one (a deadline, a reset).
    public let underlying: (any Error)?
    public let file: String
    public let line: Int

    public init(
        _ code: Code, operation: String, message: String = "", underlying: (any Error)? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.operation = operation
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    /// An error whose message is what the calling thread's OpenSSL error queue holds,
    /// which this empties.
    static func fromQueue(
        _ code: Code, operation: String, fallback: String = "", file: String = #fileID, line: Int = #line
    ) -> TLSError {
        let queued = OpenSSLErrorQueue.drain()
        return TLSError(code, operation: operation, message: queued.isEmpty ? fallback : queued, file: file, line: line)
    }

    public var description: String {
        var text = "\(operation): \(code)"
        if !message.isEmpty { text += " (\(message))" }
        if let underlying { text += ": \(underlying)" }
        return text
    }

    public var debugDescription: String { "TLSError(\(description), at \(file):\(line))" }
}

/// The per-thread OpenSSL error queue. Many connections share one loop thread, so the
/// queue is cleared before every call whose outcome is judged by `SSL_get_error`, and
/// drained after every failure, so that one connection never reads another's leftovers.
enum OpenSSLErrorQueue {
    /// Empties the queue and returns its entries, joined by "; ".
    static func drain() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            // ERR_error_string_n writes at most `count` bytes, NUL included.
            let text = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer -> String in
                guard let base = buffer.baseAddress else { return "" }
                ERR_error_string_n(code, base, buffer.count)
                return String(cString: base)
            }
            parts.append(text)
        }
        return parts.joined(separator: "; ")
    }

    /// Forgets whatever an earlier call left in the queue.
    ///
    /// Peeks first: the queue is almost always empty, and `ERR_clear_error` resets all 16
    /// slots of the thread's queue whether or not they hold anything. It runs before every
    /// `SSL_read` and `SSL_write`, several times per request, so the usual empty case must
    /// cost one look.
    static func clear() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }
}
