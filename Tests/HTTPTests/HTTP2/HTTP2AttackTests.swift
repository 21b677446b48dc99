import Testing

@testable import HTTP

/// The known HTTP/2 attacks, each refused by a limit of ``HTTP2ServerConfiguration``.
@Suite("HTTP/2 attacks refused (no sockets)", .timeLimit(.minutes(1)))
struct HTTP2AttackTests {
    /// CVE-2023-44487: open a stream and reset it at once, over and over; each costs the
    /// server a request's work while the client's concurrency stays at zero.
    @Test func rapidResetEndsWithEnhanceYourCalm() {
        var client = HTTP2TestClient()
        var stream: UInt32 = 1
        var bytes: [UInt8] = []
        for _ in 0...HTTP2ServerConfiguration().maxResetsPerWindow {
            bytes += client.headers(stream: stream, HTTP2TestClient.get())
            HTTP2FrameEncoder.rstStream(streamID: stream, code: .cancel, into: &bytes)
            stream += 2
        }
        client.send(bytes)
        #expect(client.takeFrames().goAway?.code == .enhanceYourCalm)
        #expect(client.actions.contains(.closeConnection))
    }

    /// The same number of resets spread over time is ordinary cancelling, not an attack.
    @Test func resetsSpreadOverTimeAreAllowed() {
        var client = HTTP2TestClient()
        var stream: UInt32 = 1
        for _ in 0..<3 {
            var bytes: [UInt8] = []
            for _ in 0..<200 {
                bytes += client.headers(stream: stream, HTTP2TestClient.get())
                HTTP2FrameEncoder.rstStream(streamID: stream, code: .cancel, into: &bytes)
                stream += 2
            }
            client.send(bytes)
            client.advance(seconds: 1.5)
        }
        #expect(client.takeFrames().goAway == nil)
    }

    /// CVE-2024-27316 class: CONTINUATION frames without END_HEADERS, forever.
    @Test func continuationFloodIsCutOffByCount() {
        var client = HTTP2TestClient()
        var bytes = client.headers(stream: 1, [("x-a", "b")], endStream: true, endHeaders: false)
        for _ in 0..<100 { bytes += rawFrame(type: HTTP2FrameType.continuation, stream: 1, []) }
        client.send(bytes)
        #expect(client.takeFrames().goAway?.code == .enhanceYourCalm)
    }

    @Test func continuationFloodIsCutOffBySize() {
        var client = HTTP2TestClient()
        var bytes = client.headers(stream: 1, [("x-a", "b")], endStream: true, endHeaders: false)
        for _ in 0..<5 {
            bytes += rawFrame(type: HTTP2FrameType.continuation, stream: 1, [UInt8](repeating: 0x40, count: 16_000))
        }
        client.send(bytes)
        #expect(client.takeFrames().goAway?.code == .enhanceYourCalm)
    }

    /// An HPACK bomb: a request that decodes to far more than the header list limit is
    /// answered 431, and the connection (its HPACK state in step) serves the next request.
    @Test func hpackBombIsAnswered431AndTheConnectionGoesOn() throws {
        var client = HTTP2TestClient()
        // One 4 KB entry in the client's table, then a request that references it 20 times.
        var list = HTTP2TestClient.get()
        for _ in 0..<20 { list.append(("x-bomb", String(repeating: "a", count: 4000))) }
        client.send(client.headers(stream: 1, list))
        let frames = client.takeFrames()
        let heads = try client.decodedHeaders(in: frames)
        #expect(heads.first?.fields.first == HPACKHeaderField(":status", "431"))
        #expect(!client.actions.contains { if case .request = $0 { true } else { false } })
        let next = client.send(client.headers(stream: 3, HTTP2TestClient.get("/after")))
        #expect(next.contains { if case .request(3, let head, _) = $0 { head.path == "/after" } else { false } })
    }

    /// Regression (found by fuzz/FuzzHTTP2.swift): a request the machine answers itself (431,
    /// 501 for CONNECT) read in the same bytes as a valid request before it dropped that
    /// request's action, so its handler never ran and the stream hung.
    @Test func requestsReadTogetherWithOneAnsweredByTheServerAreAllServed() throws {
        var client = HTTP2TestClient()
        var list = HTTP2TestClient.get()
        for _ in 0..<20 { list.append(("x-bomb", String(repeating: "a", count: 4000))) }
        let connect = [(":method", "CONNECT"), (":authority", "example.com:443")]
        let bytes = client.headers(stream: 1, HTTP2TestClient.get("/first")) + client.headers(stream: 3, list)
            + client.headers(stream: 5, HTTP2TestClient.get("/second")) + client.headers(stream: 7, connect)
            + client.headers(stream: 9, HTTP2TestClient.get("/third"))
        let actions = client.send(bytes)
        let served = actions.compactMap { action -> String? in
            if case .request(_, let head, _) = action { head.path } else { nil }
        }
        #expect(served == ["/first", "/second", "/third"])
        let statuses = try client.decodedHeaders(in: client.takeFrames()).map { $0.fields.first?.value }
        #expect(statuses == [Array("431".utf8), Array("501".utf8)])
    }

    /// A dynamic table size update above the announced SETTINGS_HEADER_TABLE_SIZE is a
    /// compression error (the bomb's other half: making the server keep a huge table).
    @Test func oversizedDynamicTableIsACompressionError() {
        var client = HTTP2TestClient()
        // Size update to 1 MiB, then :method GET.
        var block: [UInt8] = []
        HPACKPrimitives.appendInteger(1 << 20, prefixBits: 5, flags: 0x20, into: &block)
        block.append(0x82)
        client.send(rawFrame(
            type: HTTP2FrameType.headers, flags: HTTP2FrameFlags.endHeaders | HTTP2FrameFlags.endStream, stream: 1, block))
        #expect(client.takeFrames().goAway?.code == .compressionError)
    }

    @Test func settingsFloodEndsWithEnhanceYourCalm() {
        var client = HTTP2TestClient()
        var bytes: [UInt8] = []
        for _ in 0..<300 { HTTP2FrameEncoder.settings([], into: &bytes) }
        client.send(bytes)
        #expect(client.takeFrames().goAway?.code == .enhanceYourCalm)
    }

    @Test func pingFloodEndsWithEnhanceYourCalm() {
        var client = HTTP2TestClient()
        var bytes: [UInt8] = []
        for index in 0..<300 { HTTP2FrameEncoder.ping(ack: false, opaque: UInt64(index), into: &bytes) }
        client.send(bytes)
        let frames = client.takeFrames()
        #expect(frames.goAway?.code == .enhanceYourCalm)
        // Answers stopped at the limit (256, the handshake's SETTINGS counted): a flood does
        // not fill the output with PING ACKs.
        #expect(frames.filter { if case .ping = $0.payload { true } else { false } }.count == 255)
    }

    @Test func emptyDataFloodEndsWithEnhanceYourCalm() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.post(), endStream: false))
        var bytes: [UInt8] = []
        for _ in 0..<300 { bytes += client.data(stream: 1, []) }
        client.send(bytes)
        #expect(client.takeFrames().goAway?.code == .enhanceYourCalm)
    }

    /// A client that never opens its stream window: the response cannot progress, and after
    /// the stall timeout the stream is reset rather than held forever.
    @Test func zeroStreamWindowStallResetsTheStream() {
        var client = HTTP2TestClient()
        var settings: [UInt8] = []
        HTTP2FrameEncoder.settings([HTTP2Setting(.initialWindowSize, 0)], into: &settings)
        client.send(settings + client.headers(stream: 1, HTTP2TestClient.get()))
        _ = client.machine.sendResponseHead(streamID: 1, status: 200, endStream: false, now: client.now) { _ in }
        client.record(client.machine.sendData(streamID: 1, [1, 2, 3][...], endStream: true, now: client.now).actions)
        #expect(client.takeFrames().dataBytes.isEmpty)
        let deadline = client.machine.nextDeadline
        #expect(deadline == client.now + HTTP2ServerConfiguration().sendStallTimeoutNanoseconds)
        client.advance(seconds: 10)
        client.record(client.machine.timerFired(now: client.now))
        #expect(client.takeFrames().resets(1) == nil)
        client.advance(seconds: 25)
        client.record(client.machine.timerFired(now: client.now))
        #expect(client.takeFrames().resets(1) == .cancel)
        #expect(client.actions.contains(.streamReset(streamID: 1, .cancel)))
    }

    @Test func zeroConnectionWindowStallEndsTheConnection() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.get()))
        _ = client.machine.sendResponseHead(streamID: 1, status: 200, endStream: false, now: client.now) { _ in }
        // 65,535 bytes fill the connection window; the rest waits.
        client.record(client.machine.sendData(streamID: 1, [UInt8](repeating: 1, count: 70_000)[...], endStream: true, now: client.now).actions)
        #expect(client.takeFrames().dataBytes.count == 65_535)
        client.advance(seconds: 31)
        client.record(client.machine.timerFired(now: client.now))
        #expect(client.takeFrames().goAway?.code == .enhanceYourCalm)
    }
}
