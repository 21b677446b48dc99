/// Responses to the client: HEADERS at once, DATA as flow control allows.
extension HTTP2ServerConnectionStateMachine {
    /// Writes a response head (`:status` first, then what `fields` adds) on `streamID`.
    /// - Returns: the actions, and false when the stream is no longer served (reset or
    ///   closed), in which case nothing was written.
    public mutating func sendResponseHead(
        streamID id: UInt32, status: Int, endStream: Bool, now: UInt64,
        fields: (inout HTTP2FieldBlockWriter) -> Void
    ) -> (sent: Bool, actions: [HTTP2ServerAction]) {
        guard var stream = streams[id], !stream.responseStarted, !isClosed else { return (false, takeActions()) }
        // The block is written straight into the output, after a HEADERS frame header whose
        // length is filled in once the block is done: no block buffer to allocate and copy.
        var writer = HTTP2FieldBlockWriter(taking: &encoder)
        swap(&writer.block, &output)
        let frameStart = writer.block.count
        var flags = HTTP2FrameFlags.endHeaders
        if endStream { flags |= HTTP2FrameFlags.endStream }
        HTTP2FrameEncoder.frameHeader(length: 0, type: HTTP2FrameType.headers, flags: flags, streamID: id, into: &writer.block)
        let blockStart = writer.block.count
        writer.encoder.beginBlock(into: &writer.block)
        writer.addStatus(status)
        fields(&writer)
        writer.giveBack(to: &encoder)
        swap(&writer.block, &output)
        let blockLength = output.count - blockStart
        if blockLength <= Int(peerSettings.maxFrameSize) {
            output[frameStart] = UInt8(truncatingIfNeeded: blockLength >> 16)
            output[frameStart + 1] = UInt8(truncatingIfNeeded: blockLength >> 8)
            output[frameStart + 2] = UInt8(truncatingIfNeeded: blockLength)
        } else {
            // Longer than one frame: HEADERS and CONTINUATION frames in its place.
            let block = Array(output[blockStart...])
            output.removeSubrange(frameStart...)
            HTTP2FrameEncoder.headers(
                streamID: id, block: block[...], endStream: endStream, maxFrameSize: Int(peerSettings.maxFrameSize),
                into: &output)
        }
        stream.responseStarted = true
        streams[id] = stream
        if endStream { localEnded(id) }
        return (true, takeActions())
    }

    /// Queues response body bytes on `streamID` and frames what the windows allow; with
    /// `endStream` the last byte carries END_STREAM. ``HTTP2ServerAction/sendQueueDrained(streamID:)``
    /// follows once every queued byte is framed.
    /// - Returns: the actions, and false when the stream is no longer served.
    public mutating func sendData(
        streamID id: UInt32, _ bytes: ArraySlice<UInt8>, endStream: Bool, now: UInt64
    ) -> (sent: Bool, actions: [HTTP2ServerAction]) {
        guard var stream = streams[id], stream.responseStarted, !stream.pendingEnd, !isClosed else {
            return (false, takeActions())
        }
        if sendQueue.isEmpty, bytes.count <= min(stream.sendWindow, connectionSendWindow, Int(peerSettings.maxFrameSize)) {
            // Nothing queued before it and the windows take it whole (a usual response body):
            // framed at once, as ``flush(now:)`` would frame it, without queueing a copy.
            if !bytes.isEmpty || endStream {
                HTTP2FrameEncoder.data(streamID: id, bytes: bytes, endStream: endStream, into: &output)
            }
            stream.sendWindow -= bytes.count
            connectionSendWindow -= bytes.count
            stream.pendingEnd = endStream
            streams[id] = stream
            actions.append(.sendQueueDrained(streamID: id))
            if endStream { localEnded(id) }
            return (true, takeActions())
        }
        if stream.pendingCount == 0 && !sendQueue.contains(id) { sendQueue.append(id) }
        stream.pending.append(contentsOf: bytes)
        stream.pendingEnd = endStream
        streams[id] = stream
        flush(now: now)
        return (true, takeActions())
    }

    /// Ends the response with trailer fields, after the queued body.
    public mutating func sendTrailers(
        streamID id: UInt32, now: UInt64, fields: (inout HTTP2FieldBlockWriter) -> Void
    ) -> (sent: Bool, actions: [HTTP2ServerAction]) {
        guard var stream = streams[id], stream.responseStarted, !stream.pendingEnd, !isClosed else {
            return (false, takeActions())
        }
        var writer = HTTP2FieldBlockWriter(taking: &encoder)
        writer.encoder.beginBlock(into: &writer.block)
        fields(&writer)
        writer.giveBack(to: &encoder)
        stream.pendingTrailers = writer.block
        stream.pendingEnd = true
        if !sendQueue.contains(id) { sendQueue.append(id) }
        streams[id] = stream
        flush(now: now)
        return (true, takeActions())
    }

    /// Response body bytes queued on `streamID` and not yet framed, or nil when the stream
    /// is no longer served.
    public func pendingByteCount(streamID id: UInt32) -> Int? {
        streams[id].map(\.pendingCount)
    }

    /// The handler read `count` body bytes of `streamID`: once half the stream's window is
    /// read, the client may send that much more (WINDOW_UPDATE).
    public mutating func bodyConsumed(streamID id: UInt32, count: Int) {
        guard var stream = streams[id], !stream.remoteClosed else { return }
        stream.unacknowledgedBytes += count
        if stream.unacknowledgedBytes >= configuration.initialStreamWindowSize / 2 {
            HTTP2FrameEncoder.windowUpdate(streamID: id, increment: UInt32(stream.unacknowledgedBytes), into: &output)
            stream.receiveWindow += stream.unacknowledgedBytes
            stream.unacknowledgedBytes = 0
        }
        streams[id] = stream
    }

    /// Resets `streamID` from our side (its handler failed or gave up).
    public mutating func cancelStream(streamID id: UInt32, code: HTTP2ErrorCode = .internalError) -> [HTTP2ServerAction] {
        if streams[id] != nil, !isClosed { resetStream(id, code: code) }
        // The handler that asked knows already.
        actions.removeAll { $0 == .streamReset(streamID: id, code) }
        return takeActions()
    }

    /// Frames queued data while the windows allow, oldest stream first.
    mutating func flush(now: UInt64) {
        var index = 0
        while index < sendQueue.count {
            let id = sendQueue[index]
            guard var stream = streams[id] else {
                sendQueue.remove(at: index)
                continue
            }
            while stream.pendingCount > 0 {
                let allowed = min(
                    stream.pendingCount, stream.sendWindow, connectionSendWindow, Int(peerSettings.maxFrameSize))
                guard allowed > 0 else { break }
                let start = stream.pendingOffset
                let last = allowed == stream.pendingCount && stream.pendingEnd && stream.pendingTrailers == nil
                HTTP2FrameEncoder.data(
                    streamID: id, bytes: stream.pending[start..<(start + allowed)], endStream: last, into: &output)
                stream.pendingOffset += allowed
                stream.sendWindow -= allowed
                connectionSendWindow -= allowed
                stream.stalledSince = nil
            }
            guard stream.pendingCount == 0 else {
                if stream.stalledSince == nil { stream.stalledSince = now }
                streams[id] = stream
                index += 1
                continue
            }
            let endsNow = stream.pendingEnd
            if stream.pendingOffset == 0 && endsNow && stream.pendingTrailers == nil {
                // Nothing queued but the end of the stream: an empty DATA carries it.
                HTTP2FrameEncoder.data(streamID: id, bytes: [], endStream: true, into: &output)
            }
            if let trailers = stream.pendingTrailers {
                HTTP2FrameEncoder.headers(
                    streamID: id, block: trailers[...], endStream: true, maxFrameSize: Int(peerSettings.maxFrameSize),
                    into: &output)
                stream.pendingTrailers = nil
            }
            stream.pending = []
            stream.pendingOffset = 0
            stream.stalledSince = nil
            streams[id] = stream
            sendQueue.remove(at: index)
            actions.append(.sendQueueDrained(streamID: id))
            if endsNow { localEnded(id) }
        }
    }

    /// Our side of `id` is done: half-closed (local), or closed when the client's is too.
    mutating func localEnded(_ id: UInt32) {
        guard var stream = streams[id] else { return }
        stream.localClosed = true
        if stream.remoteClosed {
            streams[id] = nil
            closeIfDrained()
        } else {
            streams[id] = stream
        }
    }

    /// Answers `streamID` with `error`, worded by the connection's ``HTTPErrorRenderer``, and
    /// ends it; a request body still coming is then refused with RST_STREAM(NO_ERROR)
    /// (RFC 9113 §8.1).
    mutating func respondWithError(streamID id: UInt32, _ error: HTTPServerError, now: UInt64) {
        let body = errorRenderer.render(error)
        let length = String(body.bytes.count)
        let head = sendResponseHead(streamID: id, status: error.status.code, endStream: false, now: now) { fields in
            fields.add(name: "content-type", value: body.contentType)
            fields.add(name: "content-length", value: length)
        }
        let data = sendData(streamID: id, body.bytes[...], endStream: true, now: now)
        // Both hand over (and so take) the actions collected so far, which may hold requests
        // of frames read earlier in the same ``received(_:now:)``: they go back, in order.
        actions = head.actions + data.actions
        if let stream = streams[id], !stream.remoteClosed, stream.pendingCount == 0 {
            resetStream(id, code: .noError)
        }
    }
}

/// Builds one field block with the connection's HPACK encoder, leaving out the fields
/// HTTP/2 forbids (RFC 9113 §8.2.2): a handler's or an upstream's `Connection`,
/// `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding` and `Upgrade`.
public struct HTTP2FieldBlockWriter: Sendable {
    var encoder: HPACKEncoder
    var block: [UInt8] = []

    /// Takes the connection's encoder for one block, leaving an empty one in its place: a copy
    /// would share the dynamic table, and the block's first insertion would then copy it whole.
    init(taking encoder: inout HPACKEncoder) {
        self.encoder = Self.placeholder
        swap(&self.encoder, &encoder)
    }

    /// Returns the encoder taken by ``init(taking:)``.
    mutating func giveBack(to encoder: inout HPACKEncoder) {
        swap(&self.encoder, &encoder)
    }

    /// Stands in for the connection's encoder while a block is written; never used to encode.
    private static let placeholder = HPACKEncoder()

    /// `:status`: one byte for the seven statuses of the static table (RFC 7541 Appendix A),
    /// else its digits with the static table's name, as the encoder writes any field.
    mutating func addStatus(_ status: Int) {
        let staticIndex: Int? =
            switch status {
            case 200: 8
            case 204: 9
            case 206: 10
            case 304: 11
            case 400: 12
            case 404: 13
            case 500: 14
            default: nil
            }
        if let staticIndex {
            HPACKPrimitives.appendInteger(staticIndex, prefixBits: 7, flags: 0x80, into: &block)
            return
        }
        guard (100...999).contains(status) else {
            // Not a status HTTP defines (RFC 9110 §15): written as it is, as HTTP/1.1 would.
            encoder.append(name: ":status", value: String(status), into: &block)
            return
        }
        let digits: (UInt8, UInt8, UInt8) = (
            UInt8(ascii: "0") + UInt8(status / 100), UInt8(ascii: "0") + UInt8(status / 10 % 10),
            UInt8(ascii: "0") + UInt8(status % 10)
        )
        withUnsafeBytes(of: digits) { value in
            let name: StaticString = ":status"
            encoder.append(
                name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: value,
                into: &block)
        }
    }

    public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard !Self.isConnectionSpecific(name) else { return }
        encoder.append(name: name, value: value, indexing: !Self.changesWithEveryResponse(name), into: &block)
    }

    /// Fields whose values differ from one response to the next: indexing them would only
    /// push the fields that do repeat (content type, server, cache verdicts) out of the table.
    static func changesWithEveryResponse(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 4: HTTPASCII.equalsIgnoringCase(name, lowercase: "date") || HTTPASCII.equalsIgnoringCase(name, lowercase: "etag")
        case 12: HTTPASCII.equalsIgnoringCase(name, lowercase: "x-request-id")
        case 13: HTTPASCII.equalsIgnoringCase(name, lowercase: "last-modified")
        case 14: HTTPASCII.equalsIgnoringCase(name, lowercase: "content-length")
        default: false
        }
    }

    /// Adds a field whose name is a literal (lower-case) and whose value is bytes.
    public mutating func add(name: StaticString, value: UnsafeRawBufferPointer) {
        add(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: value)
    }

    /// Adds a field whose value is `value` in decimal (a `content-length`), without a `String`.
    public mutating func add(name: StaticString, decimal value: Int) {
        precondition(value >= 0, "a negative decimal field")
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = digits.count
            var rest = value
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            add(name: name, value: UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(digits)[start...]))
        }
    }

    public mutating func add(name: String, value: String) {
        var name = name
        var value = value
        name.withUTF8 { name in
            value.withUTF8 { value in add(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value)) }
        }
    }

    static func isConnectionSpecific(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 7: HTTPASCII.equalsIgnoringCase(name, lowercase: "upgrade")
        case 10:
            HTTPASCII.equalsIgnoringCase(name, lowercase: "connection")
                || HTTPASCII.equalsIgnoringCase(name, lowercase: "keep-alive")
        case 16: HTTPASCII.equalsIgnoringCase(name, lowercase: "proxy-connection")
        case 17: HTTPASCII.equalsIgnoringCase(name, lowercase: "transfer-encoding")
        default: false
        }
    }
}
