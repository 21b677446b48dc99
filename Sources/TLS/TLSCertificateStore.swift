import Reactor
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The server's current certificate, replaceable while connections run (SIGHUP).
///
/// ``reload()`` builds a complete new ``TLSServerContext`` from the same paths and swaps
/// it in only when it loaded and the key matched; otherwise the old one stays and the
/// error says why. New handshakes take ``current``; connections already made keep the
/// context they started with (their `SSL` holds a reference to it), so a reload never
/// drops or disturbs anyone.
public final class TLSCertificateStore: Sendable {
    public let certificatePath: String
    public let privateKeyPath: String
    /// Whether ALPN chooses `h2` when offered.
    public let offersHTTP2: Bool
    /// The context new handshakes use. Lock rule: held only to read or swap the reference.
    private let state: Mutex<TLSServerContext>

    /// Loads the certificate chain and key.
    /// - Throws: ``TLSError`` `.certificateLoad`, `.keyMismatch`.
    /// - Parameter offersHTTP2: as ``TLSServerContext/init(certificatePath:privateKeyPath:offersHTTP2:)``.
    public init(certificatePath: String, privateKeyPath: String, offersHTTP2: Bool = false) throws(TLSError) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.offersHTTP2 = offersHTTP2
        state = Mutex(
            try TLSServerContext(certificatePath: certificatePath, privateKeyPath: privateKeyPath, offersHTTP2: offersHTTP2))
    }

    /// A store for the paths in `TLS_CERT` (PEM full chain) and `TLS_KEY` (PEM key).
    /// - Parameter environment: the variables to read; nil reads the process environment.
    /// - Throws: ``TLSError`` `.configuration` when either is unset or empty, else as ``init(certificatePath:privateKeyPath:)``.
    public static func fromEnvironment(_ environment: [String: String]? = nil) throws(TLSError) -> TLSCertificateStore {
        func value(_ name: String) -> String? {
            if let environment { return environment[name] }
            return getenv(name).map { String(cString: $0) }
        }
        guard let certificate = value("TLS_CERT"), !certificate.isEmpty,
            let key = value("TLS_KEY"), !key.isEmpty
        else {
            throw TLSError(.configuration, operation: "read TLS_CERT/TLS_KEY", message: "both must name PEM files")
        }
        return try TLSCertificateStore(certificatePath: certificate, privateKeyPath: key)
    }

    /// The context for the next handshake. May be called from any thread.
    public var current: TLSServerContext {
        state.withLock { $0 }
    }

    /// Loads the files again and, when they are a valid pair, makes them current.
    ///
    /// Blocking (file reads, key parsing): call it off the loops, or use
    /// ``reloadInBackground()``. May be called from any thread.
    /// - Returns: the new current context.
    /// - Throws: ``TLSError`` `.certificateLoad` or `.keyMismatch`; the old context stays.
    @discardableResult
    public func reload() throws(TLSError) -> TLSServerContext {
        let fresh = try TLSServerContext(
            certificatePath: certificatePath, privateKeyPath: privateKeyPath, offersHTTP2: offersHTTP2)
        let old = state.withLock { current in
            let old = current
            current = fresh
            return old
        }
        // The old context is released here, outside the lock; OpenSSL frees it when its
        // last connection ends.
        _ = old
        return fresh
    }

    /// ``reload()`` on the blocking pool, so that a loop that handles SIGHUP never stalls.
    @discardableResult
    public func reloadInBackground(pool: BlockingPool = .shared) async throws -> TLSServerContext {
        try await pool.run { () throws(TLSError) -> TLSServerContext in try self.reload() }
    }
}
