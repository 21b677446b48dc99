/// Framing for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1), for streamed responses
/// whose length is not known up front.
public enum ChunkedEncoding {
    /// The last chunk and the empty trailer section: `0 CRLF CRLF`.
    public static let terminator: [UInt8] = Array("0\r\n\r\n".utf8)

    /// What follows each chunk's data: CRLF.
    public static let chunkDataEnd: [UInt8] = [UInt8(ascii: "\r"), UInt8(ascii: "\n")]

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `size` in hexadecimal and CRLF; the caller then appends `size` bytes and
    /// `chunkDataEnd`. A size of 0 would end the body: use `terminator` for that.
    public static func writeChunkHeader(size: Int, into buffer: inout [UInt8]) {
        precondition(size > 0, "ChunkedEncoding: a chunk of size 0 ends the body; write terminator instead")
        var shift = (Int.bitWidth - size.leadingZeroBitCount - 1) / 4 * 4
        while shift >= 0 {
            buffer.append(hexDigits[(size >> shift) & 0xF])
            shift -= 4
        }
        buffer.append(UInt8(ascii: "\r"))
        buffer.append(UInt8(ascii: "\n"))
    }

    /// Appends one whole chunk: header, data, CRLF. Nothing for empty data, which would
    /// otherwise end the body early.
    public static func writeChunk(_ data: some Collection<UInt8>, into buffer: inout [UInt8]) {
        guard !data.isEmpty else { return }
        writeChunkHeader(size: data.count, into: &buffer)
        buffer.append(contentsOf: data)
        buffer.append(contentsOf: chunkDataEnd)
    }

    /// Appends the last chunk with trailer fields (sanitized as in a head).
    public static func writeTerminator(trailers: HTTPHeaders, into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "0"))
        buffer.append(contentsOf: chunkDataEnd)
        HTTPHeadWriter.append(to: &buffer, atMost: trailers.lineByteCount + 2) { writer in
            writer.fields(trailers)
            writer.endOfLine()
        }
    }
}
