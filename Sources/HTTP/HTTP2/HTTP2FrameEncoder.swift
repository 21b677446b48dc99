/// Writes frames in wire format (RFC 9113 §4.1, §6) at the end of a byte buffer.
///
/// The caller keeps to the peer's SETTINGS_MAX_FRAME_SIZE: ``headers(streamID:block:endStream:maxFrameSize:into:)``
/// splits a field block into HEADERS and CONTINUATION itself; DATA is split by the
/// connection's flow control before it gets here.
public enum HTTP2FrameEncoder {
    public static func frameHeader(
        length: Int, type: UInt8, flags: UInt8, streamID: UInt32, into out: inout [UInt8]
    ) {
        precondition(length >= 0 && length <= 0xff_ffff, "frame length out of range")
        let id = streamID & 0x7fff_ffff
        let header: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (
            UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8),
            UInt8(truncatingIfNeeded: length), type, flags,
            UInt8(truncatingIfNeeded: id >> 24), UInt8(truncatingIfNeeded: id >> 16),
            UInt8(truncatingIfNeeded: id >> 8), UInt8(truncatingIfNeeded: id)
        )
        // One append of the nine bytes (each `append` checks uniqueness and capacity).
        withUnsafeBytes(of: header) { out.append(contentsOf: $0) }
    }

    public static func data(
        streamID: UInt32, bytes: ArraySlice<UInt8>, endStream: Bool, into out: inout [UInt8]
    ) {
        frameHeader(
            length: bytes.count, type: HTTP2FrameType.data, flags: endStream ? HTTP2FrameFlags.endStream : 0,
            streamID: streamID, into: &out)
        out.append(contentsOf: bytes)
    }

    /// A field block as one HEADERS frame, followed by CONTINUATION frames when it is longer
    /// than `maxFrameSize`.
    public static func headers(
        streamID: UInt32, block: ArraySlice<UInt8>, endStream: Bool, maxFrameSize: Int, into out: inout [UInt8]
    ) {
        var rest = block
        var first = true
        repeat {
            let piece = rest.prefix(maxFrameSize)
            rest = rest.dropFirst(piece.count)
            var flags: UInt8 = rest.isEmpty ? HTTP2FrameFlags.endHeaders : 0
            if first && endStream { flags |= HTTP2FrameFlags.endStream }
            frameHeader(
                length: piece.count, type: first ? HTTP2FrameType.headers : HTTP2FrameType.continuation,
                flags: flags, streamID: streamID, into: &out)
            out.append(contentsOf: piece)
            first = false
        } while !rest.isEmpty
    }

    public static func settings(_ settings: [HTTP2Setting], into out: inout [UInt8]) {
        frameHeader(length: settings.count * 6, type: HTTP2FrameType.settings, flags: 0, streamID: 0, into: &out)
        for setting in settings {
            out.append(UInt8(truncatingIfNeeded: setting.identifier.rawValue >> 8))
            out.append(UInt8(truncatingIfNeeded: setting.identifier.rawValue))
            appendUInt32(setting.value, to: &out)
        }
    }

    public static func settingsAck(into out: inout [UInt8]) {
        frameHeader(length: 0, type: HTTP2FrameType.settings, flags: HTTP2FrameFlags.ack, streamID: 0, into: &out)
    }

    public static func ping(ack: Bool, opaque: UInt64, into out: inout [UInt8]) {
        frameHeader(
            length: 8, type: HTTP2FrameType.ping, flags: ack ? HTTP2FrameFlags.ack : 0, streamID: 0, into: &out)
        appendUInt32(UInt32(truncatingIfNeeded: opaque >> 32), to: &out)
        appendUInt32(UInt32(truncatingIfNeeded: opaque), to: &out)
    }

    public static func goAway(
        lastStreamID: UInt32, code: HTTP2ErrorCode, debugData: [UInt8] = [], into out: inout [UInt8]
    ) {
        frameHeader(length: 8 + debugData.count, type: HTTP2FrameType.goAway, flags: 0, streamID: 0, into: &out)
        appendUInt32(lastStreamID & 0x7fff_ffff, to: &out)
        appendUInt32(code.rawValue, to: &out)
        out.append(contentsOf: debugData)
    }

    public static func rstStream(streamID: UInt32, code: HTTP2ErrorCode, into out: inout [UInt8]) {
        frameHeader(length: 4, type: HTTP2FrameType.rstStream, flags: 0, streamID: streamID, into: &out)
        appendUInt32(code.rawValue, to: &out)
    }

    public static func windowUpdate(streamID: UInt32, increment: UInt32, into out: inout [UInt8]) {
        frameHeader(length: 4, type: HTTP2FrameType.windowUpdate, flags: 0, streamID: streamID, into: &out)
        appendUInt32(increment & 0x7fff_ffff, to: &out)
    }

    static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value >> 24))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value))
    }
}
