import Reactor

/// One HTTP/2 stream seen as a byte stream for writing, so that a handler's streamed body
/// (``HTTPBodyWriter``, which writes to a ``ByteStream``) goes out as DATA frames on its
/// stream with the connection's flow control and backpressure. It cannot be read: the
/// request body was read before the handler ran. Loop-bound.
final class HTTP2StreamWriter: ByteStream, @unchecked Sendable {
    private let connection: HTTP2ServerConnection
    private let streamID: UInt32
    private let exchange: HTTP2ServerConnection.Exchange

    init(connection: HTTP2ServerConnection, streamID: UInt32, exchange: HTTP2ServerConnection.Exchange) {
        self.connection = connection
        self.streamID = streamID
        self.exchange = exchange
    }

    var loop: EventLoop { connection.loop }
    var remoteAddress: SocketAddress? { connection.stream.remoteAddress }
    var readDeadline: UInt64?
    var writeDeadline: UInt64?

    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        throw IOError(.closed, operation: "read")
    }

    func write(_ bytes: ArraySlice<UInt8>) async throws {
        guard !bytes.isEmpty else { return }
        try await connection.writeBody(bytes, streamID: streamID, exchange: exchange)
    }

    /// The stream ends with the response; the connection stays.
    func close() {}

    /// Nothing to read: the request body was read before the handler ran.
    func endReading() {}
}
