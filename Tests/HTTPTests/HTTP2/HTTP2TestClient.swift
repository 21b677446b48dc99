@testable import HTTP

/// Plays an HTTP/2 client against a server state machine, without sockets: encodes what a
/// client sends, feeds it to the machine, and decodes what the machine sends back.
struct HTTP2TestClient {
    var machine: HTTP2ServerConnectionStateMachine
    var encoder = HPACKEncoder()
    var decoder = HPACKDecoder()
    /// Frames the server sent, decoded, in order (cleared by ``takeFrames()``).
    var frames: [HTTP2Frame] = []
    var actions: [HTTP2ServerAction] = []
    var now: UInt64 = 1_000_000_000
    private var unread: [UInt8] = []
    private var input: [UInt8] = []

    init(
        configuration: HTTP2ServerConfiguration = HTTP2ServerConfiguration(), handshake: Bool = true,
        errorRenderer: any HTTPErrorRenderer = PlainTextErrorRenderer()
    ) {
        machine = HTTP2ServerConnectionStateMachine(configuration: configuration, errorRenderer: errorRenderer)
        machine.start(now: now)
        record([])
        if handshake {
            send(HTTP2Wire.clientPreface)
            var settings: [UInt8] = []
            HTTP2FrameEncoder.settings([], into: &settings)
            HTTP2FrameEncoder.settingsAck(into: &settings)
            send(settings)
            frames = []
            actions = []
        }
    }

    /// Feeds bytes (after any the machine left unread, as the I/O shell does); returns the
    /// actions they caused (also kept in `actions`).
    @discardableResult
    mutating func send(_ bytes: [UInt8]) -> [HTTP2ServerAction] {
        input += bytes
        let (consumed, newActions) = input.withUnsafeBytes { machine.received($0, now: now) }
        input.removeFirst(consumed)
        record(newActions)
        return newActions
    }

    mutating func record(_ newActions: [HTTP2ServerAction]) {
        actions += newActions
        unread += machine.takeOutput()
        while true {
            let result = unread.withUnsafeBytes { HTTP2FrameDecoder(maxFrameSize: 1 << 24).decode($0) }
            guard case .frame(let frame, let consumed) = result else { break }
            frames.append(frame)
            unread.removeFirst(consumed)
        }
    }

    mutating func takeFrames() -> [HTTP2Frame] {
        defer { frames = [] }
        return frames
    }

    /// A request's HEADERS (one frame).
    mutating func headers(
        stream: UInt32, _ list: [(String, String)], endStream: Bool = true, endHeaders: Bool = true
    ) -> [UInt8] {
        let block = encodeBlock(&encoder, list)
        var flags: UInt8 = endHeaders ? HTTP2FrameFlags.endHeaders : 0
        if endStream { flags |= HTTP2FrameFlags.endStream }
        return rawFrame(type: HTTP2FrameType.headers, flags: flags, stream: stream, block)
    }

    static func get(_ path: String = "/") -> [(String, String)] {
        [(":method", "GET"), (":scheme", "https"), (":path", path), (":authority", "example.com")]
    }

    static func post(_ path: String = "/", length: Int? = nil) -> [(String, String)] {
        var list = [(":method", "POST"), (":scheme", "https"), (":path", path), (":authority", "example.com")]
        if let length { list.append(("content-length", String(length))) }
        return list
    }

    mutating func data(stream: UInt32, _ bytes: [UInt8], endStream: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        HTTP2FrameEncoder.data(streamID: stream, bytes: bytes[...], endStream: endStream, into: &out)
        return out
    }

    /// Response heads the server sent, decoded.
    mutating func decodedHeaders(in frames: [HTTP2Frame]) throws -> [(stream: UInt32, fields: [HPACKHeaderField])] {
        var result: [(UInt32, [HPACKHeaderField])] = []
        for frame in frames {
            if case .headers(let fragment, _, _) = frame.payload {
                result.append((frame.streamID, try decoder.decode(fragment)))
            }
        }
        return result
    }

    mutating func advance(seconds: Double) {
        now += UInt64(seconds * 1e9)
    }
}

extension [HTTP2Frame] {
    var goAway: (lastStreamID: UInt32, code: HTTP2ErrorCode)? {
        for frame in self {
            if case .goAway(let last, let code, _) = frame.payload { return (last, code) }
        }
        return nil
    }

    func resets(_ stream: UInt32) -> HTTP2ErrorCode? {
        for frame in self where frame.streamID == stream {
            if case .rstStream(let code) = frame.payload { return code }
        }
        return nil
    }

    var dataBytes: [UInt8] {
        flatMap { frame -> [UInt8] in
            if case .data(let bytes, _, _) = frame.payload { return bytes }
            return []
        }
    }
}
