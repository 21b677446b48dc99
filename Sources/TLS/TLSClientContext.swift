import COpenSSL
import Synchronization

/// A client-side OpenSSL context: which versions to offer, whether and against what to
/// verify the server, ALPN `http/1.1`.
///
/// Build one per configuration and share it: loading trust anchors costs milliseconds,
/// a connection should cost none of that. ``shared(verify:caFile:)`` keeps one per
/// configuration for callers that do not want to hold it. `@unchecked Sendable`: immutable
/// after `init`, and `SSL_new` on one `SSL_CTX` is safe from many threads.
public final class TLSClientContext: @unchecked Sendable {
    let ctx: OpaquePointer
    /// Whether the server's chain and name are checked.
    public let verify: Bool

    /// - Parameters:
    ///   - verify: check the server's certificate chain and its name (``TLSStream/connect``'s
    ///     `serverName`); off for load tests against a self-signed certificate.
    ///   - caFile: PEM trust anchors; nil for the system's store.
    ///   - minimumVersion, maximumVersion: the versions offered (tests force 1.2 this way).
    ///   - alpn: protocols offered, most preferred first; empty sends no ALPN extension.
    /// - Throws: ``TLSError`` `.certificateLoad` (unreadable `caFile`), `.configuration`.
    public init(
        verify: Bool = true, caFile: String? = nil,
        minimumVersion: TLSProtocolVersion = .tls12, maximumVersion: TLSProtocolVersion = .tls13,
        alpn: [String] = [ALPN.http11]
    ) throws(TLSError) {
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw TLSError.fromQueue(.configuration, operation: "SSL_CTX_new")
        }
        do {
            try Self.configure(
                ctx, verify: verify, caFile: caFile, minimumVersion: minimumVersion,
                maximumVersion: maximumVersion, alpn: alpn)
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        self.ctx = ctx
        self.verify = verify
    }

    deinit {
        SSL_CTX_free(ctx)
    }

    private static func configure(
        _ ctx: OpaquePointer, verify: Bool, caFile: String?,
        minimumVersion: TLSProtocolVersion, maximumVersion: TLSProtocolVersion, alpn: [String]
    ) throws(TLSError) {
        guard COpenSSL_SSL_CTX_set_min_proto_version(ctx, minimumVersion.rawValue) == 1,
            COpenSSL_SSL_CTX_set_max_proto_version(ctx, maximumVersion.rawValue) == 1
        else { throw TLSError.fromQueue(.configuration, operation: "set protocol versions") }
        guard SSL_CTX_set_cipher_list(ctx, TLSServerContext.intermediateCiphers) == 1 else {
            throw TLSError.fromQueue(.configuration, operation: "SSL_CTX_set_cipher_list")
        }
        _ = SSL_CTX_set_options(
            ctx, COpenSSL_SSL_OP_NO_COMPRESSION() | COpenSSL_SSL_OP_NO_RENEGOTIATION()
                | COpenSSL_SSL_OP_IGNORE_UNEXPECTED_EOF())
        _ = COpenSSL_SSL_CTX_set_mode(ctx, Int(TLSModes.nonBlocking))
        _ = COpenSSL_SSL_CTX_set_read_ahead(ctx, 1)
        if verify {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            let loaded =
                if let caFile { SSL_CTX_load_verify_locations(ctx, caFile, nil) }
                else { SSL_CTX_set_default_verify_paths(ctx) }
            guard loaded == 1 else {
                throw TLSError.fromQueue(.certificateLoad, operation: "load trust anchors \(caFile ?? "(system)")")
            }
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
        if !alpn.isEmpty {
            let wire = ALPN.wireFormat(alpn)
            // Note the inverted convention: SSL_CTX_set_alpn_protos returns 0 on success.
            guard SSL_CTX_set_alpn_protos(ctx, wire, UInt32(wire.count)) == 0 else {
                throw TLSError.fromQueue(.configuration, operation: "SSL_CTX_set_alpn_protos")
            }
        }
    }

    // MARK: Shared contexts

    private struct Key: Hashable {
        let verify: Bool
        let caFile: String?
    }

    /// Contexts made by ``shared(verify:caFile:)``; a handful at most, kept for the process.
    private static let cache = Mutex<[Key: TLSClientContext]>([:])

    /// The process's context for this configuration (TLS 1.2–1.3, ALPN `http/1.1`),
    /// built on first use. May be called from any thread.
    public static func shared(verify: Bool, caFile: String?) throws(TLSError) -> TLSClientContext {
        let key = Key(verify: verify, caFile: caFile)
        if let existing = cache.withLock({ $0[key] }) { return existing }
        let made = try TLSClientContext(verify: verify, caFile: caFile)
        // Two threads may race to build it; the first one stored wins, the other is dropped.
        return cache.withLock { contexts in
            if let existing = contexts[key] { return existing }
            contexts[key] = made
            return made
        }
    }
}
