import COpenSSL

/// A server-side OpenSSL context: one certificate chain and key, and Marquee's policy.
///
/// The policy is Mozilla's "intermediate" profile (TLS 1.2 and 1.3; for 1.2 the ECDHE and
/// DHE suites with AES-GCM or ChaCha20-Poly1305; 1.3 suites left at OpenSSL's defaults,
/// which are exactly intermediate's; the client's cipher preference, because every suite
/// on the list is strong and clients know whether they have AES hardware), no
/// compression (CRIME), no renegotiation (a DoS lever and useless to HTTP/1.1), session
/// tickets and a bounded session cache for resumption, and ALPN `http/1.1` (`h2` first when
/// the server speaks HTTP/2).
///
/// Immutable once built; shared by every connection that starts while it is current.
/// Each `SSL` made from it holds its own reference to the `SSL_CTX`, so a context
/// replaced by a reload lives on for the connections that use it and is freed with the
/// last of them. `@unchecked Sendable`: OpenSSL allows `SSL_new` on one `SSL_CTX` from
/// many threads at once, and nothing here mutates it after `init`.
public final class TLSServerContext: @unchecked Sendable {
    /// Mozilla "intermediate" (version 5.7) cipher suites for TLS 1.2, in its order.
    public static let intermediateCiphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// Mozilla "intermediate" key exchange groups.
    public static let intermediateGroups = "X25519:prime256v1:secp384r1"

    /// Sessions remembered for session-ID resumption. OpenSSL's default (20 480) could
    /// hold megabytes under a handshake storm; the gateway's memory budget is 64 MiB, and
    /// TLS 1.3 and ticket-capable 1.2 clients resume through stateless tickets anyway.
    static let sessionCacheSize = 2048

    let ctx: OpaquePointer
    public let certificatePath: String
    public let privateKeyPath: String
    /// The leaf certificate's subject, one line (`/CN=...`), for logs and tests.
    public let certificateSubject: String
    /// The leaf certificate's serial number in hexadecimal, for logs and tests.
    public let certificateSerial: String

    /// Loads a PEM certificate chain (leaf first) and its PEM private key.
    ///
    /// Blocking file I/O and key parsing: fine at start; for a reload from a running
    /// loop, see ``TLSCertificateStore/reloadInBackground()``.
    /// - Throws: ``TLSError`` `.certificateLoad` (unreadable or unparsable file),
    ///   `.keyMismatch` (the key is not the certificate's), `.configuration`.
    /// - Parameter offersHTTP2: choose `h2` by ALPN when the client offers it (the server
    ///   behind this context speaks HTTP/2), else `http/1.1`.
    public init(certificatePath: String, privateKeyPath: String, offersHTTP2: Bool = false) throws(TLSError) {
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.fromQueue(.configuration, operation: "SSL_CTX_new")
        }
        // From here on, every failure must free ctx; deinit does it once self exists.
        do {
            try Self.applyPolicy(ctx, offersHTTP2: offersHTTP2)
            try Self.loadCertificate(ctx, certificatePath: certificatePath, privateKeyPath: privateKeyPath)
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        self.ctx = ctx
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        let leaf = SSL_CTX_get0_certificate(ctx)
        self.certificateSubject = Self.subject(of: leaf)
        self.certificateSerial = Self.serial(of: leaf)
    }

    deinit {
        SSL_CTX_free(ctx)
    }

    // MARK: Policy

    private static func applyPolicy(_ ctx: OpaquePointer, offersHTTP2: Bool) throws(TLSError) {
        guard COpenSSL_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1,
            COpenSSL_SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1
        else { throw TLSError.fromQueue(.configuration, operation: "set protocol versions") }
        guard SSL_CTX_set_cipher_list(ctx, intermediateCiphers) == 1 else {
            throw TLSError.fromQueue(.configuration, operation: "SSL_CTX_set_cipher_list")
        }
        guard COpenSSL_SSL_CTX_set1_groups_list(ctx, intermediateGroups) == 1 else {
            throw TLSError.fromQueue(.configuration, operation: "SSL_CTX_set1_groups_list")
        }
        // The DHE suites need parameters; "auto" picks an RFC 7919 group matched to the key size.
        _ = COpenSSL_SSL_CTX_set_dh_auto(ctx, 1)
        _ = SSL_CTX_set_options(
            ctx,
            COpenSSL_SSL_OP_NO_COMPRESSION() | COpenSSL_SSL_OP_NO_RENEGOTIATION()
                // A peer that closes TCP without close_notify reads as a clean end of stream:
                // HTTP/1.1 frames its messages itself, and most clients never send the alert.
                | COpenSSL_SSL_OP_IGNORE_UNEXPECTED_EOF())
        // Intermediate: "ssl_prefer_server_ciphers off".
        _ = SSL_CTX_clear_options(ctx, COpenSSL_SSL_OP_CIPHER_SERVER_PREFERENCE())
        _ = COpenSSL_SSL_CTX_set_mode(ctx, Int(TLSModes.nonBlocking))
        _ = COpenSSL_SSL_CTX_set_read_ahead(ctx, 1)
        _ = COpenSSL_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_SERVER))
        _ = COpenSSL_SSL_CTX_sess_set_cache_size(ctx, sessionCacheSize)
        // Sessions are only resumed within the context that issued them (and a reload
        // brings new ticket keys, so older tickets fall back to a full handshake).
        let sessionContext: [UInt8] = Array("marquee-gateway".utf8)
        _ = SSL_CTX_set_session_id_context(ctx, sessionContext, UInt32(sessionContext.count))
        SSL_CTX_set_alpn_select_cb(ctx, offersHTTP2 ? selectH2ThenHTTP11 : selectHTTP11, nil)
    }

    // MARK: Certificate and key

    private static func loadCertificate(
        _ ctx: OpaquePointer, certificatePath: String, privateKeyPath: String
    ) throws(TLSError) {
        guard SSL_CTX_use_certificate_chain_file(ctx, certificatePath) == 1 else {
            throw TLSError.fromQueue(.certificateLoad, operation: "load certificate chain \(certificatePath)")
        }
        // The key is parsed on its own first, so that "unreadable" and "not this
        // certificate's" come out as different errors.
        guard let bio = BIO_new_file(privateKeyPath, "r") else {
            throw TLSError.fromQueue(.certificateLoad, operation: "open private key \(privateKeyPath)")
        }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
            throw TLSError.fromQueue(.certificateLoad, operation: "parse private key \(privateKeyPath)")
        }
        defer { EVP_PKEY_free(key) }  // SSL_CTX_use_PrivateKey takes its own reference.
        guard SSL_CTX_use_PrivateKey(ctx, key) == 1, SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError.fromQueue(
                .keyMismatch, operation: "check private key \(privateKeyPath) against \(certificatePath)")
        }
    }

    private static func subject(of certificate: OpaquePointer?) -> String {
        guard let certificate, let name = X509_get_subject_name(certificate) else { return "" }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 512) { buffer -> String in
            // X509_NAME_oneline writes a NUL-terminated line of at most `capacity` bytes.
            guard let base = buffer.baseAddress, X509_NAME_oneline(name, base, Int32(buffer.count)) != nil
            else { return "" }
            return String(cString: base)
        }
    }

    private static func serial(of certificate: OpaquePointer?) -> String {
        guard let certificate, let serial = X509_get_serialNumber(certificate),
            let number = ASN1_INTEGER_to_BN(serial, nil)
        else { return "" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "" }
        // BN_bn2hex allocates with OPENSSL_malloc, which is a macro over CRYPTO_malloc.
        defer { CRYPTO_free(hex, #fileID, #line) }
        return String(cString: hex)
    }
}

/// SSL modes every Marquee context uses.
enum TLSModes {
    /// Partial writes, so that `SSL_write` returns after each record it could send; a
    /// moving write buffer, because a retried write may come from a re-pinned slice; and
    /// released buffers, so that an idle connection holds no 34 KiB of record buffers.
    static let nonBlocking =
        UInt32(SSL_MODE_ENABLE_PARTIAL_WRITE) | UInt32(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)
        | UInt32(SSL_MODE_RELEASE_BUFFERS)
}

/// The server's ALPN choice: `http/1.1` when the client offers it.
///
/// A client that offers ALPN but not `http/1.1` (say `h2` alone) gets the fatal
/// `no_application_protocol` alert, as RFC 7301 §3.2 asks and nginx does: it could not
/// talk to us anyway. A client that sends no ALPN extension never reaches this callback
/// and is served HTTP/1.1.
private let selectHTTP11: SSL_CTX_alpn_select_cb_func = { _, out, outLength, offer, offerLength, _ in
    guard let out, let outLength, let offer else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    // `offer` is the client's list inside OpenSSL's ClientHello buffer, valid during the call;
    // the selection points into it, which OpenSSL copies before the buffer goes away.
    let list = UnsafeRawBufferPointer(start: offer, count: Int(offerLength))
    guard let range = ALPN.find(ALPN.http11, in: list) else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    out.pointee = offer + range.lowerBound
    outLength.pointee = UInt8(range.count)
    return SSL_TLSEXT_ERR_OK
}

/// The HTTP/2 server's ALPN choice: `h2` when the client offers it, else `http/1.1`, else
/// the fatal alert (as ``selectHTTP11``).
private let selectH2ThenHTTP11: SSL_CTX_alpn_select_cb_func = { _, out, outLength, offer, offerLength, _ in
    guard let out, let outLength, let offer else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    // As in selectHTTP11: the selection points into OpenSSL's buffer, valid during the call.
    let list = UnsafeRawBufferPointer(start: offer, count: Int(offerLength))
    guard let range = ALPN.find(ALPN.h2, in: list) ?? ALPN.find(ALPN.http11, in: list) else {
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }
    out.pointee = offer + range.lowerBound
    outLength.pointee = UInt8(range.count)
    return SSL_TLSEXT_ERR_OK
}
