/// Reads frames from bytes (RFC 9113 §4.1), checking each frame's length, stream
/// identifier and fixed-size fields as RFC 9113 §6 requires.
///
/// Stateless and zero-copy until a frame is whole: the caller keeps unread bytes and calls
/// again when more arrive. A frame longer than `maxFrameSize` is refused as soon as its
/// header is in, before its payload is buffered.
public struct HTTP2FrameDecoder: Sendable {
    /// The SETTINGS_MAX_FRAME_SIZE this endpoint announced.
    public var maxFrameSize: Int

    public init(maxFrameSize: Int = 16_384) {
        self.maxFrameSize = maxFrameSize
    }

    public enum Result: Hashable, Sendable {
        /// Not a whole frame yet; nothing consumed.
        case needMore
        case frame(HTTP2Frame, consumed: Int)
        /// A frame that breaks RFC 9113. A stream-scoped error consumed its frame
        /// (`consumed`); after a connection-scoped one the connection ends.
        case invalid(HTTP2ProtocolError, consumed: Int)
    }

    /// The next frame at the start of `bytes`.
    public func decode(_ bytes: UnsafeRawBufferPointer) -> Result {
        let headerLength = HTTP2Wire.frameHeaderLength
        guard bytes.count >= headerLength else { return .needMore }
        let length = Int(bytes[0]) << 16 | Int(bytes[1]) << 8 | Int(bytes[2])
        let type = bytes[3]
        let flags = bytes[4]
        let streamID = Self.readUInt32(bytes, at: 5) & 0x7fff_ffff
        guard length <= maxFrameSize else {
            return .invalid(.connection(.frameSizeError, "frame longer than SETTINGS_MAX_FRAME_SIZE"), consumed: 0)
        }
        guard bytes.count >= headerLength + length else { return .needMore }
        let consumed = headerLength + length
        // Safe: headerLength + length <= bytes.count, checked above.
        let payload = UnsafeRawBufferPointer(rebasing: bytes[headerLength..<consumed])
        do {
            let decoded = try Self.payload(type: type, flags: flags, streamID: streamID, payload)
            return .frame(HTTP2Frame(streamID: streamID, payload: decoded), consumed: consumed)
        } catch {
            return .invalid(error, consumed: consumed)
        }
    }

    private static func payload(
        type: UInt8, flags: UInt8, streamID: UInt32, _ payload: UnsafeRawBufferPointer
    ) throws(HTTP2ProtocolError) -> HTTP2Frame.Payload {
        switch type {
        case HTTP2FrameType.data:
            guard streamID != 0 else { throw .connection(.protocolError, "DATA on stream 0") }
            let body = try unpadded(payload, flags: flags, extra: 0)
            return .data(
                bytes: Array(body), endStream: flags & HTTP2FrameFlags.endStream != 0,
                flowControlledLength: payload.count)
        case HTTP2FrameType.headers:
            guard streamID != 0 else { throw .connection(.protocolError, "HEADERS on stream 0") }
            let hasPriority = flags & HTTP2FrameFlags.priority != 0
            let body = try unpadded(payload, flags: flags, extra: hasPriority ? 5 : 0)
            if hasPriority, readUInt32(body, at: 0) & 0x7fff_ffff == streamID {
                // RFC 9113 §5.3.1: a stream cannot depend on itself.
                throw .stream(streamID, .protocolError, "stream depends on itself")
            }
            // Safe: `unpadded` checked that the priority fields fit.
            let fragment = hasPriority ? UnsafeRawBufferPointer(rebasing: body[5...]) : body
            return .headers(
                fragment: Array(fragment), endStream: flags & HTTP2FrameFlags.endStream != 0,
                endHeaders: flags & HTTP2FrameFlags.endHeaders != 0)
        case HTTP2FrameType.priority:
            guard streamID != 0 else { throw .connection(.protocolError, "PRIORITY on stream 0") }
            guard payload.count == 5 else { throw .stream(streamID, .frameSizeError, "PRIORITY not 5 bytes") }
            return .priority
        case HTTP2FrameType.rstStream:
            guard streamID != 0 else { throw .connection(.protocolError, "RST_STREAM on stream 0") }
            guard payload.count == 4 else { throw .connection(.frameSizeError, "RST_STREAM not 4 bytes") }
            return .rstStream(HTTP2ErrorCode(rawValue: readUInt32(payload, at: 0)))
        case HTTP2FrameType.settings:
            guard streamID == 0 else { throw .connection(.protocolError, "SETTINGS on a stream") }
            if flags & HTTP2FrameFlags.ack != 0 {
                guard payload.isEmpty else { throw .connection(.frameSizeError, "SETTINGS ACK with a payload") }
                return .settings(ack: true, [])
            }
            guard payload.count % 6 == 0 else { throw .connection(.frameSizeError, "SETTINGS not a multiple of 6") }
            var settings: [HTTP2Setting] = []
            settings.reserveCapacity(payload.count / 6)
            var index = 0
            while index < payload.count {
                let identifier = UInt16(payload[index]) << 8 | UInt16(payload[index + 1])
                let value = readUInt32(payload, at: index + 2)
                settings.append(HTTP2Setting(.init(rawValue: identifier), value))
                index += 6
            }
            var check = HTTP2SettingsValues()
            for setting in settings { try check.apply(setting) }
            return .settings(ack: false, settings)
        case HTTP2FrameType.pushPromise:
            guard streamID != 0 else { throw .connection(.protocolError, "PUSH_PROMISE on stream 0") }
            let body = try unpadded(payload, flags: flags, extra: 4)
            // Safe: `unpadded` checked that the promised stream fits.
            return .pushPromise(
                promisedStreamID: readUInt32(body, at: 0) & 0x7fff_ffff,
                fragment: Array(UnsafeRawBufferPointer(rebasing: body[4...])),
                endHeaders: flags & HTTP2FrameFlags.endHeaders != 0)
        case HTTP2FrameType.ping:
            guard streamID == 0 else { throw .connection(.protocolError, "PING on a stream") }
            guard payload.count == 8 else { throw .connection(.frameSizeError, "PING not 8 bytes") }
            let opaque = UInt64(readUInt32(payload, at: 0)) << 32 | UInt64(readUInt32(payload, at: 4))
            return .ping(ack: flags & HTTP2FrameFlags.ack != 0, opaque: opaque)
        case HTTP2FrameType.goAway:
            guard streamID == 0 else { throw .connection(.protocolError, "GOAWAY on a stream") }
            guard payload.count >= 8 else { throw .connection(.frameSizeError, "GOAWAY shorter than 8 bytes") }
            // Safe: payload.count >= 8.
            return .goAway(
                lastStreamID: readUInt32(payload, at: 0) & 0x7fff_ffff,
                code: HTTP2ErrorCode(rawValue: readUInt32(payload, at: 4)),
                debugData: Array(UnsafeRawBufferPointer(rebasing: payload[8...])))
        case HTTP2FrameType.windowUpdate:
            guard payload.count == 4 else { throw .connection(.frameSizeError, "WINDOW_UPDATE not 4 bytes") }
            return .windowUpdate(increment: readUInt32(payload, at: 0) & 0x7fff_ffff)
        case HTTP2FrameType.continuation:
            guard streamID != 0 else { throw .connection(.protocolError, "CONTINUATION on stream 0") }
            return .continuation(fragment: Array(payload), endHeaders: flags & HTTP2FrameFlags.endHeaders != 0)
        default:
            return .unknown(type: type)
        }
    }

    /// The payload without its padding (RFC 9113 §6.1): when PADDED is set, the first byte
    /// is the pad length, and padding may not reach into the `extra` fixed bytes that
    /// follow it (HEADERS' priority, PUSH_PROMISE's promised stream).
    private static func unpadded(
        _ payload: UnsafeRawBufferPointer, flags: UInt8, extra: Int
    ) throws(HTTP2ProtocolError) -> UnsafeRawBufferPointer {
        var start = 0
        var end = payload.count
        if flags & HTTP2FrameFlags.padded != 0 {
            guard payload.count >= 1 else { throw .connection(.frameSizeError, "padded frame without a pad length") }
            let padLength = Int(payload[0])
            start = 1
            guard padLength <= payload.count - 1 - extra else {
                throw .connection(.protocolError, "padding as long as the payload")
            }
            end = payload.count - padLength
        }
        guard end - start >= extra else { throw .connection(.frameSizeError, "frame shorter than its fixed fields") }
        // Safe: 0 <= start <= end <= payload.count.
        return UnsafeRawBufferPointer(rebasing: payload[start..<end])
    }

    /// A big-endian 32-bit value at `offset`; the caller checked that four bytes are there.
    static func readUInt32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }
}
