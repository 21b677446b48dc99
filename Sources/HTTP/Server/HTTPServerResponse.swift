import Reactor

/// A handler's answer: status, headers, and a body given whole or written as a stream.
public struct HTTPServerResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: Body

    public enum Body: Sendable {
        case empty
        case bytes([UInt8])
        /// Written by `writer` through an ``HTTPBodyWriter``; with `length` nil the server
        /// uses chunked encoding (or close-delimits for HTTP/1.0 clients).
        case stream(length: Int?, writer: @Sendable @concurrent (HTTPBodyWriter) async throws -> Void)
    }

    public init(status: HTTPStatus, headers: HTTPHeaders = [:], body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from already-encoded bytes.
    public static func json(_ status: HTTPStatus = .ok, _ bytes: [UInt8], headers: HTTPHeaders = [:]) -> Self {
        var response = HTTPServerResponse(status: status, headers: headers, body: .bytes(bytes))
        response.headers.replaceOrAdd(.contentType, value: "application/json")
        return response
    }
}

/// Writes a streamed response body to the connection, with backpressure: each `write`
/// returns only once the bytes are in the kernel's buffer.
///
/// Each write has its own deadline (the server's `writeTimeout` from when it starts), so a
/// large body goes on as long as the client keeps taking bytes. A body announced with a
/// `Content-Length` must be exactly that long: a write past it throws before sending, and
/// a body that ends short fails when it ends (``HTTPBodyLengthError``); the server then
/// closes the connection, since the client cannot tell where the body ends.
///
/// Loop-bound (``LoopBound``): write from the handler's task, on the connection's loop
/// (checked in debug builds); `@unchecked Sendable` so that it can reach that task.
public final class HTTPBodyWriter: LoopBound, @unchecked Sendable {
    private let stream: any ByteStream
    public let loop: EventLoop
    private let chunked: Bool
    /// The length the head stated, nil for chunked or close-delimited bodies.
    private let length: Int?
    private let writeTimeout: UInt64
    private var scratch: [UInt8] = []
    private(set) var bytesWritten = 0

    /// Trailer fields to send after the body (RFC 9110 §6.5), set by the handler before its
    /// writer returns: over HTTP/1.1 the trailer section of a chunked body, over HTTP/2 a
    /// HEADERS frame that ends the stream. A body framed by `Content-Length` (or by the
    /// close, for an HTTP/1.0 client) has no place for them, and they are dropped. The
    /// server writes them as given: leaving out what a trailer may not carry is the
    /// handler's job.
    public var trailers: HTTPHeaders?

    init(stream: any ByteStream, chunked: Bool, length: Int?, writeTimeout: UInt64) {
        self.stream = stream
        loop = stream.loop
        self.chunked = chunked
        self.length = length
        self.writeTimeout = writeTimeout
    }

    /// - Throws: ``HTTPBodyLengthError`` past the stated length; `IOError` when the client
    ///   stops taking bytes for `writeTimeout` or goes away.
    public func write(_ bytes: ArraySlice<UInt8>) async throws {
        assertOnLoop()
        guard !bytes.isEmpty else { return }
        if let length, bytesWritten + bytes.count > length {
            throw HTTPBodyLengthError(stated: length, written: bytesWritten + bytes.count)
        }
        bytesWritten += bytes.count
        stream.writeDeadline = loop.now &+ writeTimeout
        if chunked {
            scratch.removeAll(keepingCapacity: true)
            ChunkedEncoding.writeChunkHeader(size: bytes.count, into: &scratch)
            scratch.append(contentsOf: bytes)
            scratch.append(contentsOf: [0x0D, 0x0A])
            try await stream.write(scratch[...])
        } else {
            try await stream.write(bytes)
        }
    }

    public func write(_ bytes: [UInt8]) async throws { try await write(bytes[...]) }

    func finish() async throws {
        assertOnLoop()
        if let length, bytesWritten != length {
            throw HTTPBodyLengthError(stated: length, written: bytesWritten)
        }
        if chunked {
            stream.writeDeadline = loop.now &+ writeTimeout
            if let trailers, !trailers.isEmpty {
                scratch.removeAll(keepingCapacity: true)
                ChunkedEncoding.writeTerminator(trailers: trailers, into: &scratch)
                try await stream.write(scratch[...])
            } else {
                try await stream.write(ChunkedEncoding.terminator[...])
            }
        }
    }
}

/// A streamed response body did not match the `Content-Length` its head stated.
public struct HTTPBodyLengthError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The length the head stated.
    public let stated: Int
    /// The bytes the handler wrote (or tried to write, when too many).
    public let written: Int

    public var description: String {
        written > stated
            ? "response body longer than its Content-Length (\(written) > \(stated) bytes)"
            : "response body shorter than its Content-Length (\(written) < \(stated) bytes)"
    }
}

extension HTTPErrorRenderer {
    /// The whole answer to `error`: its status, its fields, the rendered body.
    public func response(for error: HTTPServerError) -> HTTPServerResponse {
        let body = render(error)
        var response = HTTPServerResponse(status: error.status, headers: error.headers, body: .bytes(body.bytes))
        response.headers.replaceOrAdd(.contentType, value: body.contentType)
        return response
    }
}
