import Reactor

/// A transport that knows which application protocol its handshake chose: TLS with ALPN.
/// (The TLS module's stream conforms where both modules meet, in the gateway.)
public protocol HTTPNegotiatedProtocol: AnyObject {
    /// The ALPN protocol chosen (`h2`, `http/1.1`), nil when the client offered none.
    var negotiatedALPN: String? { get }
}

extension HTTPServer {
    /// Whether a new connection speaks HTTP/2: a TLS stream whose ALPN chose `h2`, or a plain
    /// TCP connection whose first bytes are the HTTP/2 preface (h2c with prior knowledge,
    /// RFC 9113 §3.3). A TLS stream that chose anything else, or none, speaks HTTP/1.1.
    ///
    /// The plain check peeks at the first bytes without taking them (`MSG_PEEK`), so an
    /// HTTP/1.1 connection's parser reads them as if nobody had looked; it waits no longer
    /// than `timeout` for them (a silent client is then left to the HTTP/1.1 timeouts).
    static func speaksHTTP2(_ stream: any ByteStream, timeout: Duration) async -> Bool {
        if let negotiated = stream as? any HTTPNegotiatedProtocol { return negotiated.negotiatedALPN == "h2" }
        guard let socket = stream as? TCPSocket else { return false }
        let preface = HTTP2Wire.clientPreface
        var peeked = [UInt8](repeating: 0, count: preface.count)
        let deadline = socket.loop.now &+ timeout.nanoseconds
        socket.readDeadline = deadline
        defer { socket.readDeadline = nil }
        while true {
            // A shutdown may close the socket while this check sleeps: then the peek and the
            // wait fail with `.closed`, and nothing looks at whatever took its descriptor number.
            let peek: Int?
            do {
                // The array's storage is pinned only inside this synchronous call.
                peek = try peeked.withUnsafeMutableBytes { buffer throws(IOError) in try socket.peek(into: buffer) }
            } catch {
                return false
            }
            guard let count = peek else {
                do {
                    try await socket.waitUntilReadable()
                } catch {
                    return false
                }
                continue
            }
            if count == 0 { return false }
            if !peeked[0..<count].elementsEqual(preface[0..<count]) { return false }
            if count == preface.count { return true }
            // The start of the preface and no more yet: wait for the rest.
            guard socket.loop.now < deadline, (try? await socket.loop.sleep(for: .milliseconds(2))) != nil else {
                return false
            }
        }
    }
}
