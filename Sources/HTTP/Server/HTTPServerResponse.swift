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
public final class HTTPBodyWriter: @unchecked Sendable {
    private let stream: any ByteStream
    private let chunked: Bool
    private var scratch: [UInt8] = []
    private(set) var bytesWritten = 0

    init(stream: any ByteStream, chunked: Bool) {
        self.stream = stream
        self.chunked = chunked
    }

    public func write(_ bytes: ArraySlice<UInt8>) async throws {
        guard !bytes.isEmpty else { return }
        bytesWritten += bytes.count
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
        if chunked { try await stream.write(ChunkedEncoding.terminator[...]) }
    }
}
