import Testing

@testable import HTTP

/// Decodes one frame from `bytes`.
func decodeFrame(_ bytes: [UInt8], maxFrameSize: Int = 16_384) -> HTTP2FrameDecoder.Result {
    bytes.withUnsafeBytes { HTTP2FrameDecoder(maxFrameSize: maxFrameSize).decode($0) }
}

/// A frame's bytes from its parts.
func rawFrame(type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    HTTP2FrameEncoder.frameHeader(length: payload.count, type: type, flags: flags, streamID: stream, into: &out)
    return out + payload
}

@Suite("HTTP/2 frame codec (RFC 9113 §4, §6)", .timeLimit(.minutes(1)))
struct HTTP2FrameCodecTests {
    @Test func everyFrameTypeRoundTrips() {
        var out: [UInt8] = []
        HTTP2FrameEncoder.data(streamID: 1, bytes: [1, 2, 3], endStream: true, into: &out)
        HTTP2FrameEncoder.headers(streamID: 3, block: [9, 9], endStream: false, maxFrameSize: 16_384, into: &out)
        HTTP2FrameEncoder.rstStream(streamID: 5, code: .cancel, into: &out)
        HTTP2FrameEncoder.settings([HTTP2Setting(.maxConcurrentStreams, 100)], into: &out)
        HTTP2FrameEncoder.settingsAck(into: &out)
        HTTP2FrameEncoder.ping(ack: true, opaque: 0x0102_0304_0506_0708, into: &out)
        HTTP2FrameEncoder.goAway(lastStreamID: 7, code: .enhanceYourCalm, debugData: [0x41], into: &out)
        HTTP2FrameEncoder.windowUpdate(streamID: 0, increment: 1000, into: &out)
        let expected: [HTTP2Frame] = [
            HTTP2Frame(streamID: 1, payload: .data(bytes: [1, 2, 3], endStream: true, flowControlledLength: 3)),
            HTTP2Frame(streamID: 3, payload: .headers(fragment: [9, 9], endStream: false, endHeaders: true)),
            HTTP2Frame(streamID: 5, payload: .rstStream(.cancel)),
            HTTP2Frame(streamID: 0, payload: .settings(ack: false, [HTTP2Setting(.maxConcurrentStreams, 100)])),
            HTTP2Frame(streamID: 0, payload: .settings(ack: true, [])),
            HTTP2Frame(streamID: 0, payload: .ping(ack: true, opaque: 0x0102_0304_0506_0708)),
            HTTP2Frame(streamID: 0, payload: .goAway(lastStreamID: 7, code: .enhanceYourCalm, debugData: [0x41])),
            HTTP2Frame(streamID: 0, payload: .windowUpdate(increment: 1000)),
        ]
        var decoded: [HTTP2Frame] = []
        var offset = 0
        while offset < out.count {
            guard case .frame(let frame, let consumed) = decodeFrame(Array(out[offset...])) else {
                Issue.record("not a frame at \(offset)")
                return
            }
            decoded.append(frame)
            offset += consumed
        }
        #expect(decoded == expected)
    }

    @Test func partialInputNeedsMoreAndByteByByteAgrees() {
        var out: [UInt8] = []
        HTTP2FrameEncoder.ping(ack: false, opaque: 42, into: &out)
        for length in 0..<out.count { #expect(decodeFrame(Array(out.prefix(length))) == .needMore) }
        #expect(decodeFrame(out) == .frame(HTTP2Frame(streamID: 0, payload: .ping(ack: false, opaque: 42)), consumed: 17))
    }

    @Test func paddingIsRemovedAndCountsForFlowControl() {
        // PADDED DATA: pad length 2, "hi", two bytes of padding.
        let frame = rawFrame(type: HTTP2FrameType.data, flags: HTTP2FrameFlags.padded, stream: 1, [2, 0x68, 0x69, 0, 0])
        #expect(decodeFrame(frame) == .frame(
            HTTP2Frame(streamID: 1, payload: .data(bytes: [0x68, 0x69], endStream: false, flowControlledLength: 5)),
            consumed: 14))
        // PADDED|PRIORITY HEADERS: the priority's five bytes are skipped.
        let headers = rawFrame(
            type: HTTP2FrameType.headers,
            flags: HTTP2FrameFlags.padded | HTTP2FrameFlags.priority | HTTP2FrameFlags.endHeaders, stream: 3,
            [1, 0, 0, 0, 1, 16, 0x82, 0])
        #expect(decodeFrame(headers) == .frame(
            HTTP2Frame(streamID: 3, payload: .headers(fragment: [0x82], endStream: false, endHeaders: true)),
            consumed: 17))
    }

    @Test func headersLongerThanAFrameAreSplitIntoContinuation() {
        var out: [UInt8] = []
        HTTP2FrameEncoder.headers(streamID: 1, block: [UInt8](repeating: 7, count: 40_000)[...], endStream: true,
            maxFrameSize: 16_384, into: &out)
        guard case .frame(let first, let used) = decodeFrame(out),
            case .frame(let second, let used2) = decodeFrame(Array(out[used...])),
            case .frame(let third, _) = decodeFrame(Array(out[(used + used2)...]))
        else {
            Issue.record("three frames expected")
            return
        }
        #expect(first.payload == .headers(fragment: [UInt8](repeating: 7, count: 16_384), endStream: true, endHeaders: false))
        #expect(second.payload == .continuation(fragment: [UInt8](repeating: 7, count: 16_384), endHeaders: false))
        #expect(third.payload == .continuation(fragment: [UInt8](repeating: 7, count: 7232), endHeaders: true))
    }

    /// The error cases RFC 9113 §4.2 and §6 name, each with its code and scope.
    @Test(arguments: [
        (rawFrame(type: HTTP2FrameType.data, stream: 0, [1]), HTTP2ProtocolError.connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.headers, stream: 0, [0x82]), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.priority, stream: 0, [0, 0, 0, 1, 1]), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.priority, stream: 1, [0, 0, 0, 3]), .stream(1, .frameSizeError, "")),
        (rawFrame(type: HTTP2FrameType.rstStream, stream: 0, [0, 0, 0, 8]), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.rstStream, stream: 1, [0, 0, 8]), .connection(.frameSizeError, "")),
        (rawFrame(type: HTTP2FrameType.settings, stream: 1, []), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.settings, flags: 1, stream: 0, [0, 0, 0, 0, 0, 0]), .connection(.frameSizeError, "")),
        (rawFrame(type: HTTP2FrameType.settings, stream: 0, [0, 3, 0, 0, 0]), .connection(.frameSizeError, "")),
        (rawFrame(type: HTTP2FrameType.settings, stream: 0, [0, 2, 0, 0, 0, 2]), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.settings, stream: 0, [0, 4, 0x80, 0, 0, 0]), .connection(.flowControlError, "")),
        (rawFrame(type: HTTP2FrameType.settings, stream: 0, [0, 5, 0, 0, 0x3f, 0xff]), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.settings, stream: 0, [0, 5, 1, 0, 0, 0]), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.ping, stream: 1, [0, 0, 0, 0, 0, 0, 0, 0]), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.ping, stream: 0, [0, 0, 0, 0, 0, 0, 0]), .connection(.frameSizeError, "")),
        (rawFrame(type: HTTP2FrameType.goAway, stream: 1, [0, 0, 0, 0, 0, 0, 0, 0]), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.goAway, stream: 0, [0, 0, 0, 0]), .connection(.frameSizeError, "")),
        (rawFrame(type: HTTP2FrameType.windowUpdate, stream: 1, [0, 0, 1]), .connection(.frameSizeError, "")),
        (rawFrame(type: HTTP2FrameType.continuation, stream: 0, []), .connection(.protocolError, "")),
        // Padding as long as the payload.
        (rawFrame(type: HTTP2FrameType.data, flags: HTTP2FrameFlags.padded, stream: 1, [3, 0, 0]), .connection(.protocolError, "")),
        (rawFrame(type: HTTP2FrameType.data, flags: HTTP2FrameFlags.padded, stream: 1, []), .connection(.frameSizeError, "")),
        // HEADERS depending on its own stream.
        (rawFrame(type: HTTP2FrameType.headers, flags: HTTP2FrameFlags.priority | HTTP2FrameFlags.endHeaders, stream: 1,
            [0, 0, 0, 1, 16, 0x82]), .stream(1, .protocolError, "")),
    ])
    func malformedFramesAreRefused(frame: [UInt8], expected: HTTP2ProtocolError) {
        guard case .invalid(let error, _) = decodeFrame(frame) else {
            Issue.record("accepted: \(frame)")
            return
        }
        #expect(error.code == expected.code)
        #expect(error.scope == expected.scope)
    }

    @Test func frameLongerThanTheLimitIsRefusedFromItsHeader() {
        var header: [UInt8] = []
        HTTP2FrameEncoder.frameHeader(length: 16_385, type: HTTP2FrameType.data, flags: 0, streamID: 1, into: &header)
        guard case .invalid(let error, let consumed) = decodeFrame(header) else {
            Issue.record("accepted")
            return
        }
        #expect(error.code == .frameSizeError && error.scope == .connection && consumed == 0)
    }

    @Test func unknownFrameTypesAndSettingsAreIgnored() {
        #expect(decodeFrame(rawFrame(type: 0x42, stream: 9, [1, 2])) == .frame(
            HTTP2Frame(streamID: 9, payload: .unknown(type: 0x42)), consumed: 11))
        // Unknown setting 0x99, and the reserved bit of the stream identifier set.
        var frame = rawFrame(type: HTTP2FrameType.settings, stream: 0, [0, 0x99, 0, 0, 0, 1])
        frame[5] |= 0x80
        #expect(decodeFrame(frame) == .frame(
            HTTP2Frame(streamID: 0, payload: .settings(ack: false, [HTTP2Setting(.init(rawValue: 0x99), 1)])),
            consumed: 15))
    }
}
