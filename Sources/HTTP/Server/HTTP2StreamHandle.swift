import Reactor

/// One HTTP/2 stream as its handler sees it: the source of its request body (through
/// ``HTTPRequestBody``: the pieces its DATA frames brought, then its trailer fields), and a
/// byte stream for writing, so that a streamed response body (``HTTPBodyWriter``, which
/// writes to a ``ByteStream``) goes out as DATA frames on the stream with the connection's
/// flow control and backpressure. Loop-bound.
final class HTTP2StreamHandle: ByteStream, @unchecked Sendable {
    private let connection: HTTP2ServerConnection
    private let streamID: UInt32
    private let exchange: HTTP2ServerConnection.Exchange

    init(connection: HTTP2ServerConnection, streamID: UInt32, exchange: HTTP2ServerConnection.Exchange) {
        self.connection = connection
        self.streamID = streamID
        self.exchange = exchange
    }

    // MARK: The request body

    /// The next piece, nil at the end; see ``HTTP2ServerConnection/nextBodyChunk(streamID:exchange:)``.
    func nextBodyChunk() async throws -> ArraySlice<UInt8>? {
        try await connection.nextBodyChunk(streamID: streamID, exchange: exchange)
    }

    /// The trailer fields that ended the body (none when it ended with a DATA frame).
    var trailers: HTTPHeaders? {
        guard !exchange.trailers.isEmpty else { return nil }
        var headers = HTTPHeaders()
        for field in exchange.trailers {
            headers.add(name: String(decoding: field.name, as: UTF8.self), value: String(decoding: field.value, as: UTF8.self))
        }
        return headers
    }

    // MARK: The response body, as a ByteStream

    var loop: EventLoop { connection.loop }
    var remoteAddress: SocketAddress? { connection.stream.remoteAddress }
    var readDeadline: UInt64?
    var writeDeadline: UInt64?

    /// The request body is read through ``nextBodyChunk()``, not as a byte stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        throw IOError(.closed, operation: "read")
    }

    func write(_ bytes: ArraySlice<UInt8>) async throws {
        guard !bytes.isEmpty else { return }
        try await connection.writeBody(bytes, streamID: streamID, exchange: exchange)
    }

    /// The stream ends with the response; the connection stays.
    func close() {}

    /// Nothing to read as a byte stream.
    func endReading() {}
}
