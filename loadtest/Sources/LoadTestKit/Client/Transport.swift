import Reactor
import TLS

/// Opens the byte stream a connection speaks HTTP over. The seam for HTTPS: plain TCP is
/// built in; a TLS client transport (module `TLS`) is passed in as another factory.
///
/// Called on `loop` (from the executor's task); the stream it returns is bound to `loop`.
public typealias TransportFactory = @Sendable (_ url: TargetURL, _ loop: EventLoop, _ timeout: Duration)
    async throws -> any ByteStream

public enum Transports {
    /// A plain TCP connection to the URL's host and port (first resolved address that answers).
    public static let plain: TransportFactory = { url, loop, timeout in
        let addresses = try await SocketAddress.resolve(host: url.host, port: url.port)
        var lastError: any Error = LoadTestError(.unreachable, "\(url.host) resolved to no address")
        for address in addresses {
            do {
                return try await TCPSocket.connect(to: address, on: loop, timeout: timeout)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// TLS over ``plain``, through the TLS module's client stream (SNI and ALPN http/1.1).
    ///
    /// - Parameters:
    ///   - verify: check the server's certificate chain and name (off for self-signed tests).
    ///   - caFile: a PEM bundle to trust instead of the system's.
    public static func tls(verify: Bool, caFile: String?) -> TransportFactory {
        { url, loop, timeout in
            let stream = try await plain(url, loop, timeout)
            guard let socket = stream as? TCPSocket else { return stream }
            return try await TLSStream.connect(
                socket: socket, serverName: url.host, verify: verify, caFile: caFile, handshakeTimeout: timeout)
        }
    }

    /// TLS over ``plain`` offering only `h2` by ALPN, for ``HTTP2Target`` (a server that does
    /// not choose it fails the connect with a protocol error).
    ///
    /// - Throws: ``TLSError`` when `caFile` cannot be loaded.
    public static func tlsForHTTP2(verify: Bool, caFile: String?) throws(TLSError) -> TransportFactory {
        let context = try TLSClientContext(verify: verify, caFile: caFile, alpn: [ALPN.h2])
        return { url, loop, timeout in
            let stream = try await plain(url, loop, timeout)
            guard let socket = stream as? TCPSocket else { return stream }
            return try await TLSStream.connect(
                socket: socket, context: context, serverName: url.host, handshakeTimeout: timeout)
        }
    }

    /// The factory for `url`'s scheme: plain for http, `tls` for https.
    ///
    /// - Throws: ``LoadTestError/Code/notSupported`` for https when no TLS factory is given.
    public static func forURL(_ url: TargetURL, tls: TransportFactory?) throws(LoadTestError) -> TransportFactory {
        guard url.isTLS else { return plain }
        guard let tls else {
            throw LoadTestError(
                .notSupported,
                "https:// needs a TLS client transport, and this build has none wired in yet "
                    + "(LoadTestKit's TransportFactory seam; use the gateway's http:// port meanwhile)")
        }
        return tls
    }
}
