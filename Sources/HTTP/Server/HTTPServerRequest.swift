import Reactor

/// A request as a handler sees it: the head, a body to read (whole or streamed), where it
/// came from, and the path parameters the router matched.
public struct HTTPServerRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: HTTPRequestBody
    /// Path parameters set by the ``Router`` (`{id}` in `/api/movies/{id}`).
    public var parameters: PathParameters
    /// The connection's peer and loop, shared by all its requests.
    public let origin: HTTPRequestOrigin

    public var remoteAddress: SocketAddress? { origin.remoteAddress }
    /// The numeric host of `remoteAddress` (`127.0.0.1`, `::1`), made once per connection
    /// by the server: formatting an address costs an `inet_ntop` and a `String`.
    public var remoteHost: String? { origin.remoteHost }
    /// The loop the connection (and so this handler) runs on.
    public var loop: EventLoop { origin.loop }

    /// - Parameter remoteHost: `remoteAddress?.host` when the caller has it already
    ///   (nil formats it here).
    public init(
        head: HTTPRequestHead, body: HTTPRequestBody, remoteAddress: SocketAddress?, remoteHost: String? = nil,
        loop: EventLoop, parameters: PathParameters = PathParameters()
    ) {
        self.init(
            head: head, body: body,
            origin: HTTPRequestOrigin(loop: loop, remoteAddress: remoteAddress, remoteHost: remoteHost),
            parameters: parameters)
    }

    /// A request of a connection whose origin the caller made once (the server).
    public init(
        head: HTTPRequestHead, body: HTTPRequestBody, origin: HTTPRequestOrigin,
        parameters: PathParameters = PathParameters()
    ) {
        self.head = head
        self.body = body
        self.origin = origin
        self.parameters = parameters
    }

    public var method: HTTPMethod { head.method }
    public var path: Substring { head.path }
    public var headers: HTTPHeaders { head.headers }
}

/// Where a connection's requests come from and the loop that serves them, made once per
/// connection. Why one object: a request is copied and destroyed on every request's path
/// (the compiler does not always move it), and one reference costs less to count than a
/// loop, an address enum and a string.
public final class HTTPRequestOrigin: Sendable {
    public let loop: EventLoop
    public let remoteAddress: SocketAddress?
    public let remoteHost: String?

    /// - Parameter remoteHost: `remoteAddress?.host` when the caller has it already (nil
    ///   formats it here).
    public init(loop: EventLoop, remoteAddress: SocketAddress?, remoteHost: String? = nil) {
        self.loop = loop
        self.remoteAddress = remoteAddress
        self.remoteHost = remoteHost ?? remoteAddress?.host
    }
}

/// The body of a request being served, read from the connection on demand.
///
/// Read it whole with ``collect(upTo:)`` or piece by piece with ``next()``; a body the
/// handler leaves unread is skipped by the server before the next request.
///
/// Loop-bound (``LoopBound``) while it reads from a connection: use it on the connection's
/// loop, from the handler's own task (the server reserves an HTTP/1.1 connection's socket
/// for that task, see ``TCPSocket/reserveWaitsForCurrentTask()``); debug builds check the
/// loop on every call, release builds do not. A body made from bytes (``init(bytes:)``)
/// touches no loop: it belongs to the task that reads it. `@unchecked Sendable` so that it
/// can travel in a request to that task.
public final class HTTPRequestBody: @unchecked Sendable {
    /// The connection, until its request is over (``detach()``). Strong, not weak: a weak
    /// reference gives the connection a side table, and then every retain and release of
    /// it takes the runtime's slow path for the rest of its life.
    private var source: HTTPServerConnection?
    /// The HTTP/2 stream, when the request came on one (and until ``detach()``).
    private var http2Source: HTTP2StreamHandle?
    private let isEmpty: Bool
    /// Bytes given to a test or an in-process caller instead of a connection.
    private var preset: ArraySlice<UInt8>?
    private(set) var isFinished: Bool

    /// The body of every request that announced none. Shared by all connections and loops,
    /// which is safe because it is finished from the start: nothing in it is ever written
    /// (``next()`` returns at its first check). It saves a GET an allocation.
    static let absent = HTTPRequestBody()

    private init() {
        self.source = nil
        self.isEmpty = true
        self.isFinished = true
    }

    init(source: HTTPServerConnection, isEmpty: Bool) {
        self.source = source
        self.isEmpty = isEmpty
        self.isFinished = isEmpty
    }

    /// The body of a request on an HTTP/2 stream, read as its DATA frames arrive.
    init(http2 source: HTTP2StreamHandle) {
        self.source = nil
        self.http2Source = source
        self.isEmpty = false
        self.isFinished = false
    }

    /// A body with fixed contents, for in-process callers and tests.
    public init(bytes: [UInt8]) {
        self.source = nil
        self.isEmpty = bytes.isEmpty
        self.preset = bytes[...]
        self.isFinished = false
    }

    /// The next piece of the body, or nil at its end.
    /// - Throws: ``HTTPServerError`` (413 over the parser's size limit, 400 for a malformed
    ///   body, 408 when a piece is late), ``IOError`` when the connection fails.
    public func next() async throws -> ArraySlice<UInt8>? {
        assertOnSourceLoop()
        if isFinished { return nil }
        if let preset {
            self.preset = nil
            isFinished = true
            return preset.isEmpty ? nil : preset
        }
        guard let source else {
            guard let http2Source else {
                isFinished = true
                return nil
            }
            let chunk = try await http2Source.nextBodyChunk()
            if chunk == nil {
                isFinished = true
                trailers = http2Source.trailers
            }
            return chunk
        }
        let chunk = try await source.nextBodyChunk()
        if chunk == nil {
            isFinished = true
            trailers = source.bodyTrailers
        }
        return chunk
    }

    /// The trailer fields that ended the body, once it is read to its end: a chunked
    /// HTTP/1.1 body's trailer section, an HTTP/2 request's HEADERS after its DATA; nil when
    /// there were none.
    public private(set) var trailers: HTTPHeaders?

    /// The whole body, failing with 413 (``HTTPServerError/Reason/bodyTooLarge(limit:)``)
    /// when it is longer than `maxBytes`.
    public func collect(upTo maxBytes: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let chunk = try await next() {
            if bytes.count + chunk.count > maxBytes {
                throw HTTPServerError(.bodyTooLarge(limit: maxBytes))
            }
            bytes.append(contentsOf: chunk)
        }
        return bytes
    }

    /// Ends this body's tie to its connection once the request is over (answered, its body
    /// read or skipped): a handler that kept the body reads nothing more from it, neither the
    /// next request's bytes nor from a closed connection. Called by the connection.
    func detach() {
        assertOnSourceLoop()
        guard source != nil || http2Source != nil else { return }  // (`absent` is shared and never written)
        source = nil
        http2Source = nil
        isFinished = true
    }

    /// True when the request announced no body at all.
    public var isKnownEmpty: Bool { isEmpty }

    /// ``LoopBound/assertOnLoop(file:line:)`` for the connection's loop, while there is one.
    @inline(__always)
    private func assertOnSourceLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(
            (source?.loop.inLoop ?? true) && (http2Source?.loop.inLoop ?? true),
            "HTTPRequestBody used off its connection's event loop", file: file, line: line)
    }
}
