import COpenSSL
import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// A TLS session over a ``TCPSocket``: the server side of the gateway's port 8443 and the
/// client side of the load tester's HTTPS runs, as a ``ByteStream``.
///
/// OpenSSL reads the socket itself, non-blocking, on the socket's descriptor. Each call is
/// repeated until it completes or OpenSSL says it wants the socket to become readable;
/// only then does the task wait, and it starts waiting in the same synchronous stretch as
/// the EAGAIN that OpenSSL saw, so that no edge of the edge-triggered registration is
/// missed. Data OpenSSL already holds (a decrypted record not yet handed out, read-ahead
/// bytes) is returned before any waiting: a read starts with `SSL_read` unless OpenSSL
/// holds nothing and its last read of the socket came back short (a BIO callback tells),
/// in which case it waits for the socket's next edge first rather than make a `read` that
/// can only answer EAGAIN.
///
/// OpenSSL writes into a memory BIO instead, and the stream hands that ciphertext to the
/// socket, in the order it was made: so a TLS answer, like a plain one, can go out at the
/// end of the loop's round (``sendAtEndOfRound(_:)``), and a full socket makes the writer
/// wait in ``TCPSocket/write(_:)``.
///
/// Loop-bound (``LoopBound``) like every ``ByteStream``: call it only from tasks on ``loop``. One read and
/// one write may be in flight at once (the HTTP server reads the next request while it
/// writes a response); OpenSSL's state is only touched between suspensions, on one thread.
public final class TLSStream: ByteStream, @unchecked Sendable {
    /// The connection underneath. Do not read or write it directly once the stream exists.
    public let socket: TCPSocket
    /// The session. Freed in deinit, never in ``close()``: a task woken by the close may
    /// still look at it (it then sees `isClosed` and does no I/O).
    private let ssl: OpaquePointer
    /// The memory BIO OpenSSL writes to (owned by `ssl`).
    private let output: OpaquePointer
    /// Ciphertext taken from `output` and not yet handed to the socket, oldest first.
    private var unsent: [UInt8] = []
    private var isClosed = false
    /// Set after OpenSSL reported a fatal error: the session may not be used for I/O
    /// again, not even to send close_notify.
    private var isBroken = false
    /// The peer sent close_notify (or closed TCP): every further read returns 0.
    private var receivedEndOfStream = false
    private var readWaits = ReadWaits()

    /// The protocol chosen by ALPN, nil when the client sent no ALPN extension.
    public private(set) var negotiatedALPN: String?
    /// The version the handshake settled on.
    public private(set) var negotiatedProtocolVersion: TLSProtocolVersion?
    /// The cipher suite's OpenSSL name (`TLS_AES_128_GCM_SHA256`), for logs.
    public private(set) var negotiatedCipher: String?

    public var loop: EventLoop { socket.loop }
    public var remoteAddress: SocketAddress? { socket.remoteAddress }
    /// Forwarded to the socket: OpenSSL's reads wait there.
    public var readDeadline: UInt64? {
        get { socket.readDeadline }
        set { socket.readDeadline = newValue }
    }
    /// Forwarded to the socket: OpenSSL's writes wait there.
    public var writeDeadline: UInt64? {
        get { socket.writeDeadline }
        set { socket.writeDeadline = newValue }
    }

    private init(socket: TCPSocket, ssl: OpaquePointer, output: OpaquePointer) {
        self.socket = socket
        self.ssl = ssl
        self.output = output
    }

    deinit {
        SSL_free(ssl)
        // The socket closes itself in its own deinit if nobody closed it.
    }

    // MARK: Handshakes

    /// Runs the server handshake on an accepted connection with the store's current
    /// certificate.
    ///
    /// Call from a task on `socket.loop`. The stream owns the socket from here: when the
    /// handshake fails or times out the socket is closed before the error is thrown, so
    /// a stalled or garbage-sending client costs nothing more than its timer.
    /// - Throws: ``TLSError`` `.handshakeFailed` (with the OpenSSL reason, or the transport
    ///   error as `underlying`), `.handshakeTimedOut`, `.configuration`.
    public static func accept(
        socket: TCPSocket, store: TLSCertificateStore, handshakeTimeout: Duration = .seconds(10)
    ) async throws -> TLSStream {
        try await accept(socket: socket, context: store.current, handshakeTimeout: handshakeTimeout)
    }

    /// ``accept(socket:store:handshakeTimeout:)`` with a fixed context.
    public static func accept(
        socket: TCPSocket, context: TLSServerContext, handshakeTimeout: Duration = .seconds(10)
    ) async throws -> TLSStream {
        socket.loop.preconditionInLoop()
        let stream = try make(socket: socket, ctx: context.ctx)
        SSL_set_accept_state(stream.ssl)
        try await stream.handshake(timeout: handshakeTimeout)
        return stream
    }

    /// Runs the client handshake on a connected socket.
    ///
    /// Call from a task on `socket.loop`. On failure the socket is closed.
    /// - Parameters:
    ///   - serverName: sent as SNI (unless it is an IP address) and, when the context
    ///     verifies, checked against the certificate (as a DNS name or an IP address).
    /// - Throws: ``TLSError`` as ``accept(socket:store:handshakeTimeout:)``.
    public static func connect(
        socket: TCPSocket, context: TLSClientContext, serverName: String?,
        handshakeTimeout: Duration = .seconds(10)
    ) async throws -> TLSStream {
        socket.loop.preconditionInLoop()
        let stream = try make(socket: socket, ctx: context.ctx)
        do {
            try stream.setServerName(serverName, verify: context.verify)
        } catch {
            stream.close()
            throw error
        }
        SSL_set_connect_state(stream.ssl)
        try await stream.handshake(timeout: handshakeTimeout)
        return stream
    }

    /// ``connect(socket:context:serverName:handshakeTimeout:)`` with the process's shared
    /// context for `verify` and `caFile` (see ``TLSClientContext/shared(verify:caFile:)``).
    public static func connect(
        socket: TCPSocket, serverName: String?, verify: Bool, caFile: String? = nil,
        handshakeTimeout: Duration = .seconds(10)
    ) async throws -> TLSStream {
        let context: TLSClientContext
        do {
            context = try TLSClientContext.shared(verify: verify, caFile: caFile)
        } catch {
            socket.close()
            throw error
        }
        return try await connect(
            socket: socket, context: context, serverName: serverName, handshakeTimeout: handshakeTimeout)
    }

    private static func make(socket: TCPSocket, ctx: OpaquePointer) throws(TLSError) -> TLSStream {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(ctx) else {
            socket.close()
            throw TLSError.fromQueue(.configuration, operation: "SSL_new")
        }
        // Reads: a socket BIO on the descriptor that does not close it. Writes: memory.
        guard let input = BIO_new_socket(socket.fd, BIO_NOCLOSE) else {
            let error = TLSError.fromQueue(.configuration, operation: "BIO_new_socket")
            SSL_free(ssl)
            socket.close()
            throw error
        }
        guard let output = BIO_new(BIO_s_mem()) else {
            let error = TLSError.fromQueue(.configuration, operation: "BIO_new(mem)")
            BIO_free(input)
            SSL_free(ssl)
            socket.close()
            throw error
        }
        // OpenSSL's reads of the socket are watched, so that the stream knows when one came
        // back short (see `read(into:)`). The callback gets the socket unretained: the BIO
        // is freed with `ssl` in the stream's deinit, while the stream still holds the socket.
        BIO_set_callback_arg(input, Unmanaged.passUnretained(socket).toOpaque().assumingMemoryBound(to: CChar.self))
        BIO_set_callback_ex(input, noteShortSocketReads)
        SSL_set_bio(ssl, input, output)  // ssl owns both from here
        return TLSStream(socket: socket, ssl: ssl, output: output)
    }

    private func setServerName(_ serverName: String?, verify: Bool) throws(TLSError) {
        guard let serverName, !serverName.isEmpty else { return }
        OpenSSLErrorQueue.clear()
        if Self.isIPAddress(serverName) {
            // RFC 6066: no SNI for literal addresses; verification checks the IP SAN.
            if verify, X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) != 1 {
                throw TLSError.fromQueue(.configuration, operation: "set expected IP \(serverName)")
            }
            return
        }
        guard COpenSSL_SSL_set_tlsext_host_name(ssl, serverName) == 1 else {
            throw TLSError.fromQueue(.configuration, operation: "set SNI \(serverName)")
        }
        if verify, SSL_set1_host(ssl, serverName) != 1 {
            throw TLSError.fromQueue(.configuration, operation: "set expected host \(serverName)")
        }
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v6) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// Drives `SSL_do_handshake` to completion under one deadline for both directions.
    private func handshake(timeout: Duration) async throws {
        let deadline = monotonicNanoseconds() &+ UInt64(max(0, timeout.nanoseconds))
        let saved = (socket.readDeadline, socket.writeDeadline)
        socket.readDeadline = deadline
        socket.writeDeadline = deadline
        do {
            let completed = try await drive("handshake", sendsBeforeWaiting: true) { SSL_do_handshake($0) }
            if completed <= 0 {
                throw TLSError(.handshakeFailed, operation: "handshake", message: "peer closed the connection")
            }
            try await sendUnsent()  // the last flight (Finished, session tickets)
        } catch {
            close()
            if let error = error as? TLSError {
                throw error.code == .protocolError
                    ? TLSError(.handshakeFailed, operation: "handshake", message: error.message) : error
            }
            if let error = error as? IOError, error.code == .timedOut {
                throw TLSError(.handshakeTimedOut, operation: "handshake", underlying: error)
            }
            throw TLSError(.handshakeFailed, operation: "handshake", underlying: error)
        }
        socket.readDeadline = saved.0
        socket.writeDeadline = saved.1
        recordNegotiatedParameters()
    }

    private func recordNegotiatedParameters() {
        var protocolName: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &protocolName, &length)
        if let protocolName, length > 0 {
            // Points into the session; copied at once.
            negotiatedALPN = String(decoding: UnsafeBufferPointer(start: protocolName, count: Int(length)), as: UTF8.self)
        }
        negotiatedProtocolVersion = TLSProtocolVersion(openSSLVersion: SSL_version(ssl))
        if let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) {
            negotiatedCipher = String(cString: name)
        }
    }

    // MARK: Reading and writing

    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        assertOnLoop()
        guard buffer.count > 0 else { return 0 }
        if receivedEndOfStream && !isClosed { return 0 }
        // When OpenSSL holds no bytes and its last read of the socket came back short, an
        // `SSL_read` now could only find the socket empty: a `read` answering EAGAIN, once per
        // request on a keep-alive connection. Wait for the socket's next edge instead.
        if socket.isKnownDrained, !readWaits.isWaiting, SSL_has_pending(ssl) == 0 {
            readWaits.isWaiting = true
            defer { readWaits.finish() }
            try await socket.waitUntilReadable()
        }
        let count = try await drive("read", sendsBeforeWaiting: false) { ssl in
            // SSL_read takes an Int32 length; a larger buffer is simply filled in part.
            SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        }
        // A read can make records too (a key update's answer): they go at the end of the
        // round when the socket can take them, else ahead of the next write.
        if !unsent.isEmpty, socket.canSendAtEndOfRound { _ = socket.sendAtEndOfRound(&unsent) }
        if count <= 0 {
            receivedEndOfStream = true
            return 0
        }
        return Int(count)
    }

    public func write(_ bytes: ArraySlice<UInt8>) async throws {
        assertOnLoop()
        try await encrypt(bytes)
        try await sendUnsent()
    }

    public func sendAtEndOfRound(_ bytes: inout [UInt8]) -> Bool {
        assertOnLoop()
        // Only when the socket can take the ciphertext at once: once encrypted, the bytes
        // cannot be handed back.
        guard !bytes.isEmpty, !isClosed, !isBroken, unsent.isEmpty, socket.canSendAtEndOfRound else { return false }
        // A memory BIO never pushes back, but with SSL_MODE_ENABLE_PARTIAL_WRITE each call
        // takes at most a record's worth: repeat until all is encrypted.
        var offset = 0
        while offset < bytes.count {
            OpenSSLErrorQueue.clear()
            let written = bytes[offset...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32(clamping: $0.count)) }
            guard written > 0 else { break }
            offset += Int(written)
        }
        takeOutput()
        if offset == 0 {
            // Nothing taken (a failure, or a TLS 1.2 peer renegotiating): write(_:) deals with it.
            return false
        }
        if offset < bytes.count {
            // Part is encrypted and cannot be taken back: the session is unusable from here
            // (the next read or write says so); what was encrypted still goes out.
            isBroken = true
        }
        bytes.removeAll(keepingCapacity: true)
        let taken = socket.sendAtEndOfRound(&unsent)
        assert(taken, "the socket refused an end-of-round send it said it could take")
        return true
    }

    public var isPeerClosed: Bool { receivedEndOfStream || socket.isPeerClosed }

    /// The socket, while OpenSSL holds no received byte (`SSL_has_pending`: no decrypted data,
    /// no read-ahead) and no read waits: its next edge then brings the next record.
    public var socketToWatch: TCPSocket? {
        guard !isClosed, !isBroken, !receivedEndOfStream, !readWaits.isWaiting, SSL_has_pending(ssl) == 0 else { return nil }
        return socket
    }

    /// The socket's: a peer that goes away closes TCP, close_notify or not.
    public var onPeerClosed: (() -> Void)? {
        get { socket.onPeerClosed }
        set { socket.onPeerClosed = newValue }
    }

    public func finishSends() async throws {
        assertOnLoop()
        try await sendUnsent()
        try await socket.finishSends()
    }

    /// Encrypts all of `bytes` into `unsent`.
    private func encrypt(_ bytes: ArraySlice<UInt8>) async throws {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let written = try await drive("write", sendsBeforeWaiting: true) { ssl in
                bytes[offset...].withUnsafeBytes { raw in
                    // The slice is pinned only for this call; ACCEPT_MOVING_WRITE_BUFFER lets a
                    // retry pass the same bytes at another address.
                    SSL_write(ssl, raw.baseAddress, Int32(clamping: raw.count))
                }
            }
            if written <= 0 {
                // SSL_write never returns 0 for a clean close_notify from the peer in a
                // way we can continue from: the peer is gone.
                throw IOError(.eof, operation: "write")
            }
            offset += Int(written)
        }
    }

    /// Moves what OpenSSL wrote since the last call from its memory BIO to `unsent`.
    private func takeOutput() {
        let pending = Int(BIO_ctrl_pending(output))
        guard pending > 0 else { return }
        let start = unsent.count
        unsent.append(contentsOf: repeatElement(0, count: pending))
        let taken = unsent.withUnsafeMutableBytes { raw in
            // Safe: `pending` bytes were just appended at `start`.
            BIO_read(output, raw.baseAddress! + start, Int32(clamping: pending))
        }
        if Int(taken) < pending { unsent.removeLast(pending - max(0, Int(taken))) }
    }

    /// Hands `unsent` to the socket, waiting while the socket is full.
    private func sendUnsent() async throws {
        guard !unsent.isEmpty else { return }
        let bytes = unsent
        unsent.removeAll(keepingCapacity: true)
        try await socket.write(bytes[...])
    }

    // MARK: Closing

    public func close() {
        assertOnLoop()
        guard !isClosed else { return }
        isClosed = true
        // What OpenSSL wrote last (an alert that ends a failed handshake) gets the socket's
        // one try at closing.
        takeOutput()
        if !unsent.isEmpty, socket.canSendAtEndOfRound { _ = socket.sendAtEndOfRound(&unsent) }
        socket.close()
    }

    /// Sends close_notify (waiting at most a second for room in the socket buffer), then
    /// closes. The peer's close_notify is not awaited: HTTP/1.1 has nothing more to say.
    public func closeGracefully() async {
        assertOnLoop()
        guard !isClosed else { return }
        await sendCloseNotify()
        close()
    }

    /// close_notify, then the socket's lingering close (half-close, drop what the peer still
    /// sends until it closes or `deadline`).
    public func closeLingering(until deadline: UInt64) async {
        assertOnLoop()
        guard !isClosed else { return }
        await sendCloseNotify()
        // From here the socket is read raw and its bytes dropped: TLS has said goodbye.
        isClosed = true
        await socket.closeLingering(until: deadline)
    }

    public func endReading() {
        assertOnLoop()
        socket.endReading()
    }

    /// Sends close_notify (so the peer can tell a complete response from a cut one), waiting
    /// at most a second for room in the socket buffer; not after a fatal error or before
    /// the handshake finished, when OpenSSL may not send it.
    private func sendCloseNotify() async {
        guard !isBroken && SSL_is_init_finished(ssl) == 1 else { return }
        let limit = monotonicNanoseconds() &+ 1_000_000_000
        socket.writeDeadline = min(socket.writeDeadline ?? limit, limit)
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(ssl)  // close_notify, into the memory BIO
        takeOutput()
        try? await sendUnsent()
        OpenSSLErrorQueue.clear()
    }

    // MARK: The OpenSSL call loop

    /// Repeats `call` until it returns a positive value, a clean end of stream (0), or
    /// fails; waits for the socket whenever OpenSSL wants it.
    ///
    /// - Returns: the positive result, or 0 after the peer's close_notify (or a TCP close,
    ///   see `SSL_OP_IGNORE_UNEXPECTED_EOF` in ``TLSServerContext``).
    /// - Throws: `IOError` for the transport (`.closed`, `.timedOut`, `.cancelled`,
    ///   `.system` resets) and ``TLSError`` `.protocolError` for OpenSSL's own failures.
    private func drive(
        _ operation: String, sendsBeforeWaiting: Bool, _ call: (OpaquePointer) -> Int32
    ) async throws -> Int32 {
        while true {
            if isClosed { throw IOError(.closed, operation: operation) }
            if isBroken { throw TLSError(.protocolError, operation: operation, message: "session failed earlier") }
            OpenSSLErrorQueue.clear()
            errno = 0
            let result = call(ssl)
            let savedErrno = errno  // before takeOutput, which may change errno
            takeOutput()
            if result > 0 { return result }
            switch SSL_get_error(ssl, result) {
            case SSL_ERROR_WANT_READ:
                // A handshake flight must be out before its answer can come. (A read leaves
                // what it made to the writer, which may be waiting on the socket already.)
                if sendsBeforeWaiting { try await sendUnsent() }
                try await waitUntilReadable()
            case SSL_ERROR_WANT_WRITE:
                // Not from a memory BIO; kept for completeness.
                try await sendUnsent()
            case SSL_ERROR_ZERO_RETURN:
                return 0
            case SSL_ERROR_SYSCALL:
                isBroken = true
                OpenSSLErrorQueue.clear()
                if savedErrno != 0 { throw IOError.system(operation, errno: savedErrno) }
                throw IOError(.eof, operation: operation)
            default:
                isBroken = true
                throw TLSError.fromQueue(.protocolError, operation: operation, fallback: "unknown OpenSSL failure")
            }
        }
    }

    /// Waits until the socket is readable.
    ///
    /// The socket takes one reader. OpenSSL can want to read for a read and for a write at
    /// once (a TLS 1.2 peer renegotiating while a record is written), so the second one
    /// waits for the first to be woken and then retries its call. (Writes never wait here:
    /// OpenSSL writes into memory, and the socket's own write waits for room.)
    private func waitUntilReadable() async throws {
        if readWaits.isWaiting {
            await withUnsafeContinuation { readWaits.follow($0) }
            return
        }
        readWaits.isWaiting = true
        defer { readWaits.finish() }
        try await socket.waitUntilReadable()
    }
}

/// The socket BIO's callback: after each read of the socket, a short (or empty) one marks
/// the socket drained (``TCPSocket/noteReadDrained()``), in the same synchronous stretch as
/// the read. Everything else passes through unchanged.
private let noteShortSocketReads: BIO_callback_fn_ex = { bio, operation, _, requested, _, _, result, processed in
    // Before a call the callback's answer decides whether the call goes ahead (1: yes);
    // after it, the answer replaces the call's result, so `result` is given back.
    guard operation & BIO_CB_RETURN != 0 else { return 1 }
    if operation & ~BIO_CB_RETURN == BIO_CB_READ, let bio, let argument = BIO_get_callback_arg(bio) {
        let count = result > 0 ? (processed?.pointee ?? 0) : 0
        if count < requested {
            // Safe: the argument is the stream's socket, alive while the BIO is (see `make`).
            Unmanaged<TCPSocket>.fromOpaque(UnsafeRawPointer(argument)).takeUnretainedValue().noteReadDrained()
        }
    }
    return Int(result)
}

/// Who waits for the socket to become readable: one task in the socket, others behind it.
private struct ReadWaits {
    var isWaiting = false
    private var followers: [UnsafeContinuation<Void, Never>] = []

    mutating func follow(_ continuation: UnsafeContinuation<Void, Never>) {
        followers.append(continuation)
    }

    /// Ends the wait and wakes its followers, which retry their OpenSSL call (and see the
    /// stream closed, if that is what ended the wait).
    mutating func finish() {
        isWaiting = false
        let woken = followers
        followers = []
        for follower in woken { follower.resume() }
    }
}
