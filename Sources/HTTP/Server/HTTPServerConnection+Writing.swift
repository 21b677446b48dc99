/// Writing a response: its head straight into the output buffer with a whole body
/// (``append(_:method:version:keepAlive:)``, synchronous), a streamed body after it
/// (``writeBody(_:)``), the flush, and the answer to a request that cannot be served
/// (``sendErrorAndClose(_:)``).
extension HTTPServerConnection {
    /// A body written after its head: the handler's writer, and how it is framed.
    struct StreamedBody {
        let write: @Sendable @concurrent (HTTPBodyWriter) async throws -> Void
        let chunked: Bool
        /// The `Content-Length` the head stated, which the writer must meet exactly.
        let length: Int?
        /// False for HEAD and for statuses without a body: the writer is not called.
        let sendsBody: Bool
    }

    /// Writes the response's head straight into the output buffer: the handler's fields
    /// except those the server owns (framing, `Connection`, `Date`, `Server`), then the
    /// server's own. The handler's headers are never copied. A whole body follows the head;
    /// a streamed one is returned for ``writeBody(_:)``. Synchronous, so that answering
    /// with a whole body costs no async frame.
    func append(
        _ response: HTTPServerResponse, method: HTTPMethod, version: HTTPVersion, keepAlive: Bool
    ) -> StreamedBody? {
        var keepAlive = keepAlive && !machine.isDraining
        // connectionContains, not connectionTokens: no token array per response.
        if response.headers.connectionContains("close") {
            keepAlive = false
            machine.responseForcesClose()
        }
        let plan = ResponseBodyPlan(response, method: method)
        // The framing field: Content-Length (a number), chunked, or none.
        var chunked = false
        if plan.isUndelimitedStream {
            if version == .http1_1 {
                chunked = true
            } else {
                keepAlive = false  // HTTP/1.0: the end of the connection ends the body
                machine.responseForcesClose()
            }
        }
        if output.capacity == 0 { output = loop.bufferPool.takeArray() }
        let date = dateCache.currentField()
        let length =
            HTTPHeadWriter.statusLineLength(version: .http1_1, status: response.status) + response.headers.lineByteCount
            + HTTPHeadWriter.fieldLength("Transfer-Encoding", valueCount: 20) + HTTPHeadWriter.fieldLength("Connection", valueCount: 10)
            + date.count + serverField.count + 2
        HTTPHeadWriter.append(to: &output, atMost: length, with: response) { writer, response in
            writer.statusLine(version: .http1_1, status: response.status)
            writer.fields(response.headers, omitting: HTTPServerOwnedFields.contains)
            if let contentLength = plan.contentLength {
                writer.field("Content-Length", decimal: contentLength)
            } else if chunked {
                writer.field("Transfer-Encoding", "chunked")
            }
            if !keepAlive {
                writer.field("Connection", "close")
            } else if version == .http1_0 {
                writer.field("Connection", "keep-alive")
            }
            serverField.withUnsafeBytes { writer.bytes($0) }
            date.withUnsafeBytes { writer.bytes($0) }
            writer.endOfLine()
        }
        if let streamWriter = plan.streamWriter {
            return StreamedBody(write: streamWriter, chunked: chunked, length: plan.contentLength, sendsBody: plan.sendsBody)
        }
        if plan.sendsBody { output.append(contentsOf: plan.bytes) }
        return nil
    }

    /// Sends the head buffered by ``append(_:method:version:keepAlive:)``, then has the
    /// handler's writer stream the body.
    func writeBody(_ body: StreamedBody) async throws {
        try await flush()
        guard body.sendsBody else { return }
        // Each write of the body gets its own deadline: a slow download of a large body
        // goes on as long as the client keeps taking bytes.
        let writer = HTTPBodyWriter(stream: stream, chunked: body.chunked, length: body.length, writeTimeout: writeTimeout)
        try await body.write(writer)
        try await writer.finish()
        stream.writeDeadline = nil
    }

    func flush() async throws {
        guard !output.isEmpty else { return }
        stream.writeDeadline = loop.now &+ writeTimeout
        try await stream.write(output[...])
        stream.writeDeadline = nil
        output.removeAll(keepingCapacity: true)
    }

    /// Answers a request that cannot be served (malformed, too large, too slow) and ends
    /// the connection with a lingering close: the rest of the request may still be coming.
    /// A draining server's answer on a connection where it read nothing of a next request
    /// is ``HTTPServerError/Reason/shuttingDown`` (see ``HTTPConnectionStateMachine/EndAction``).
    func sendErrorAndClose(_ error: HTTPServerError) {
        machine.closed()
        ending = .lingering
        let rendered = shared.configuration.errorRenderer.render(error)
        var response = HTTPServerResponse(status: error.status, headers: error.headers)
        response.headers.replaceOrAdd(.contentType, value: rendered.contentType)
        let body = rendered.bytes
        let date = dateCache.currentField()
        let length =
            HTTPHeadWriter.statusLineLength(version: .http1_1, status: response.status) + response.headers.lineByteCount
            + HTTPHeadWriter.fieldLength("Content-Length", valueCount: 20) + HTTPHeadWriter.fieldLength("Connection", valueCount: 5)
            + date.count + 2
        HTTPHeadWriter.append(to: &output, atMost: length, with: response) { writer, response in
            writer.statusLine(version: .http1_1, status: response.status)
            writer.fields(response.headers, omitting: HTTPServerOwnedFields.contains)
            writer.field("Content-Length", decimal: body.count)
            writer.field("Connection", "close")
            date.withUnsafeBytes { writer.bytes($0) }
            writer.endOfLine()
        }
        output.append(contentsOf: body)
    }
}
