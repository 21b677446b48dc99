import Testing

@testable import HTTP

@Suite("HTTP/2 server connection state machine (no sockets)", .timeLimit(.minutes(1)))
struct HTTP2StateMachineTests {
    @Test func prefaceThenSettingsAreAcknowledged() {
        var client = HTTP2TestClient(handshake: false)
        let start = client.takeFrames()
        #expect(start.first?.payload == .settings(ack: false, HTTP2ServerConfiguration().announcedSettings))
        #expect(start.contains { $0.payload == .windowUpdate(increment: UInt32((1 << 24) - 65_535)) })
        client.send(Array(HTTP2Wire.clientPreface.prefix(10)))
        client.send(Array(HTTP2Wire.clientPreface.dropFirst(10)))
        var settings: [UInt8] = []
        HTTP2FrameEncoder.settings([HTTP2Setting(.initialWindowSize, 1000)], into: &settings)
        client.send(settings)
        #expect(client.takeFrames() == [HTTP2Frame(streamID: 0, payload: .settings(ack: true, []))])
    }

    @Test func aBadPrefaceOrAFirstFrameOtherThanSettingsEndsTheConnection() {
        var client = HTTP2TestClient(handshake: false)
        client.send(Array("GET / HTTP/1.1\r\n".utf8))
        #expect(client.takeFrames().goAway?.code == .protocolError)
        #expect(client.actions.contains(.closeConnection))

        var other = HTTP2TestClient(handshake: false)
        var ping: [UInt8] = []
        HTTP2FrameEncoder.ping(ack: false, opaque: 1, into: &ping)
        other.send(HTTP2Wire.clientPreface + ping)
        #expect(other.takeFrames().goAway?.code == .protocolError)
    }

    @Test func aGetIsARequestAndItsResponseClosesTheStream() throws {
        var client = HTTP2TestClient()
        let request = client.headers(stream: 1, HTTP2TestClient.get("/api/movies/1?x=1"))
        let actions = client.send(request)
        guard case .request(1, let head, endStream: true)? = actions.first else {
            Issue.record("no request: \(actions)")
            return
        }
        #expect(head.method == "GET" && head.path == "/api/movies/1?x=1" && head.authority == "example.com")
        #expect(client.machine.activeStreamCount == 1)
        let (sent, _) = client.machine.sendResponseHead(streamID: 1, status: 200, endStream: false, now: client.now) {
            $0.add(name: "Content-Type", value: "application/json")
            $0.add(name: "Connection", value: "keep-alive")  // dropped: connection-specific
        }
        #expect(sent)
        client.record(client.machine.sendData(streamID: 1, Array("{}".utf8)[...], endStream: true, now: client.now).actions)
        let frames = client.takeFrames()
        let heads = try client.decodedHeaders(in: frames)
        #expect(heads.first?.fields == fields([(":status", "200"), ("content-type", "application/json")]))
        #expect(frames.dataBytes == Array("{}".utf8))
        #expect(frames.last?.payload == .data(bytes: Array("{}".utf8), endStream: true, flowControlledLength: 2))
        #expect(client.actions.contains(.sendQueueDrained(streamID: 1)))
        #expect(client.machine.activeStreamCount == 0)
    }

    /// Response fields that repeat become one index each; those that change with every
    /// response (date, request id, length) are literals that stay out of the dynamic table.
    @Test func repeatedResponseFieldsAreIndexedAndPerResponseOnesAreNot() throws {
        var client = HTTP2TestClient()
        var blocks: [[HPACKHeaderField]] = []
        for (stream, id) in [(UInt32(1), "a1"), (3, "b2"), (5, "c3")] {
            client.send(client.headers(stream: stream, HTTP2TestClient.get()))
            _ = client.machine.sendResponseHead(streamID: stream, status: 200, endStream: true, now: client.now) {
                $0.add(name: "content-type", value: "application/json")
                $0.add(name: "X-Request-ID", value: "request-\(id)")
                $0.add(name: "date", value: "Mon, 07 Dec 2026 12:00:0\(stream) GMT")
                $0.add(name: "content-length", value: "\(stream)")
            }
            client.record([])
            blocks += try client.decodedHeaders(in: client.takeFrames()).map(\.fields)
        }
        #expect(blocks.count == 3)
        #expect(blocks[2] == fields([
            (":status", "200"), ("content-type", "application/json"), ("x-request-id", "request-c3"),
            ("date", "Mon, 07 Dec 2026 12:00:05 GMT"), ("content-length", "5"),
        ]))
        // Only content-type entered the table the client mirrors.
        #expect(client.decoder.dynamicTableCount == 1)
    }

    @Test func aPostBodyArrivesInPiecesAndOpensTheWindowWhenRead() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.post(length: 40_000), endStream: false))
        client.send(client.data(stream: 1, [UInt8](repeating: 1, count: 16_384)))
        client.send(client.data(stream: 1, [UInt8](repeating: 1, count: 16_384)))
        client.send(client.data(stream: 1, [UInt8](repeating: 1, count: 7232), endStream: true))
        let bodies = client.actions.filter { if case .body = $0 { true } else { false } }
        #expect(bodies.count == 3)
        #expect(client.actions.last == .endOfBody(streamID: 1, trailers: []))
        _ = client.takeFrames()
        client.machine.bodyConsumed(streamID: 1, count: 40_000)
        // The client's side is closed: no stream WINDOW_UPDATE is owed.
        client.record([])
        #expect(client.takeFrames().isEmpty)
    }

    @Test func streamWindowUpdateAfterHalfTheWindowIsRead() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.post(), endStream: false))
        for _ in 0..<4 { client.send(client.data(stream: 1, [UInt8](repeating: 1, count: 10_000))) }
        _ = client.takeFrames()
        client.machine.bodyConsumed(streamID: 1, count: 40_000)
        client.record([])
        #expect(client.takeFrames() == [HTTP2Frame(streamID: 1, payload: .windowUpdate(increment: 40_000))])
    }

    @Test func dataBeyondTheStreamWindowIsAFlowControlError() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.post(), endStream: false))
        for _ in 0..<4 { client.send(client.data(stream: 1, [UInt8](repeating: 1, count: 16_384))) }
        #expect(client.takeFrames().resets(1) == .flowControlError)
        #expect(client.actions.contains(.streamReset(streamID: 1, .flowControlError)))
    }

    @Test func contentLengthMustMatchTheData() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.post(length: 3), endStream: false))
        client.send(client.data(stream: 1, [1, 2], endStream: true))
        #expect(client.takeFrames().resets(1) == .protocolError)
        client.send(client.headers(stream: 3, HTTP2TestClient.post(length: 1), endStream: false))
        client.send(client.data(stream: 3, [1, 2]))
        #expect(client.takeFrames().resets(3) == .protocolError)
    }

    @Test func responseDataWaitsForTheWindowAndGoesOnAfterWindowUpdate() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.get()))
        _ = client.machine.sendResponseHead(streamID: 1, status: 200, endStream: false, now: client.now) { _ in }
        let body = [UInt8](repeating: 7, count: 100_000)
        client.record(client.machine.sendData(streamID: 1, body[...], endStream: true, now: client.now).actions)
        #expect(client.takeFrames().dataBytes.count == 65_535)
        #expect(client.machine.pendingByteCount(streamID: 1) == 100_000 - 65_535)
        #expect(!client.actions.contains(.sendQueueDrained(streamID: 1)))
        var update: [UInt8] = []
        HTTP2FrameEncoder.windowUpdate(streamID: 0, increment: 50_000, into: &update)
        HTTP2FrameEncoder.windowUpdate(streamID: 1, increment: 50_000, into: &update)
        client.send(update)
        let rest = client.takeFrames()
        #expect(rest.dataBytes.count == 100_000 - 65_535)
        #expect(client.actions.contains(.sendQueueDrained(streamID: 1)))
        #expect(client.machine.activeStreamCount == 0)
    }

    @Test func aSmallerInitialWindowFromSettingsAppliesToOpenStreams() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.get()))
        var settings: [UInt8] = []
        HTTP2FrameEncoder.settings([HTTP2Setting(.initialWindowSize, 10)], into: &settings)
        client.send(settings)
        _ = client.machine.sendResponseHead(streamID: 1, status: 200, endStream: false, now: client.now) { _ in }
        client.record(client.machine.sendData(streamID: 1, [UInt8](repeating: 1, count: 25)[...], endStream: true, now: client.now).actions)
        #expect(client.takeFrames().dataBytes.count == 10)
    }

    @Test func pingIsAnsweredAndPriorityIgnored() {
        var client = HTTP2TestClient()
        var bytes: [UInt8] = []
        HTTP2FrameEncoder.ping(ack: false, opaque: 0xdead_beef, into: &bytes)
        bytes += rawFrame(type: HTTP2FrameType.priority, stream: 9, [0, 0, 0, 0, 16])
        client.send(bytes)
        #expect(client.takeFrames() == [HTTP2Frame(streamID: 0, payload: .ping(ack: true, opaque: 0xdead_beef))])
    }

    @Test func clientResetEndsTheStream() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.get()))
        var reset: [UInt8] = []
        HTTP2FrameEncoder.rstStream(streamID: 1, code: .cancel, into: &reset)
        client.send(reset)
        #expect(client.actions.last == .streamReset(streamID: 1, .cancel))
        #expect(client.machine.sendResponseHead(streamID: 1, status: 200, endStream: true, now: client.now) { _ in }.sent == false)
    }

    @Test func gracefulShutdownServesOpenStreamsThenCloses() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.get()))
        client.record(client.machine.beginGracefulShutdown())
        #expect(client.takeFrames().goAway.map { ($0.lastStreamID, $0.code) }! == (1, .noError))
        // A stream opened after GOAWAY is not served.
        let late = client.send(client.headers(stream: 3, HTTP2TestClient.get()))
        #expect(!late.contains { if case .request = $0 { true } else { false } })
        #expect(!client.machine.isClosed)
        client.record(client.machine.sendResponseHead(streamID: 1, status: 204, endStream: true, now: client.now) { _ in }.actions)
        #expect(client.actions.last == .closeConnection)
        #expect(client.machine.isClosed)
    }

    @Test func streamStateErrors() {
        // Even stream id; a stream id that goes backwards; DATA on an idle stream.
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 2, HTTP2TestClient.get()))
        #expect(client.takeFrames().goAway?.code == .protocolError)

        client = HTTP2TestClient()
        client.send(client.headers(stream: 5, HTTP2TestClient.get()))
        _ = client.machine.sendResponseHead(streamID: 5, status: 204, endStream: true, now: client.now) { _ in }
        client.send(client.headers(stream: 3, HTTP2TestClient.get()))
        #expect(client.takeFrames().goAway?.code == .streamClosed)

        client = HTTP2TestClient()
        client.send(client.data(stream: 7, [1]))
        #expect(client.takeFrames().goAway?.code == .protocolError)

        // DATA after END_STREAM on a stream still being answered: stream error STREAM_CLOSED.
        client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.get()))
        client.send(client.data(stream: 1, [1]))
        #expect(client.takeFrames().resets(1) == .streamClosed)

        // WINDOW_UPDATE of 0 on the connection; PUSH_PROMISE from a client.
        client = HTTP2TestClient()
        client.send(rawFrame(type: HTTP2FrameType.windowUpdate, stream: 0, [0, 0, 0, 0]))
        #expect(client.takeFrames().goAway?.code == .protocolError)
        client = HTTP2TestClient()
        client.send(rawFrame(type: HTTP2FrameType.pushPromise, flags: HTTP2FrameFlags.endHeaders, stream: 1, [0, 0, 0, 2]))
        #expect(client.takeFrames().goAway?.code == .protocolError)

        // Connection window overflow.
        client = HTTP2TestClient()
        var update: [UInt8] = []
        HTTP2FrameEncoder.windowUpdate(streamID: 0, increment: 0x7fff_ffff, into: &update)
        client.send(update)
        #expect(client.takeFrames().goAway?.code == .flowControlError)
    }

    @Test func aFieldBlockMayNotBeInterrupted() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.get(), endHeaders: false))
        var ping: [UInt8] = []
        HTTP2FrameEncoder.ping(ack: false, opaque: 1, into: &ping)
        client.send(ping)
        #expect(client.takeFrames().goAway?.code == .protocolError)
    }

    @Test func headersSplitOverContinuationAreOneRequest() {
        var client = HTTP2TestClient()
        let block = encodeBlock(&client.encoder, HTTP2TestClient.get("/split"))
        var bytes = rawFrame(type: HTTP2FrameType.headers, flags: HTTP2FrameFlags.endStream, stream: 1, Array(block.prefix(3)))
        bytes += rawFrame(type: HTTP2FrameType.continuation, stream: 1, Array(block.dropFirst(3).prefix(2)))
        bytes += rawFrame(type: HTTP2FrameType.continuation, flags: HTTP2FrameFlags.endHeaders, stream: 1, Array(block.dropFirst(5)))
        let actions = client.send(bytes)
        guard case .request(1, let head, true)? = actions.first else {
            Issue.record("no request")
            return
        }
        #expect(head.path == "/split")
    }

    @Test func trailersEndTheBody() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.post(), endStream: false))
        client.send(client.data(stream: 1, [1, 2]))
        client.send(client.headers(stream: 1, [("x-checksum", "abc")], endStream: true))
        #expect(client.actions.last == .endOfBody(streamID: 1, trailers: fields([("x-checksum", "abc")])))
        // Trailers with a pseudo-header field are malformed.
        client.send(client.headers(stream: 3, HTTP2TestClient.post(), endStream: false))
        client.send(client.headers(stream: 3, [(":path", "/")], endStream: true))
        #expect(client.takeFrames().resets(3) == .protocolError)
    }

    @Test func responseTrailersFollowTheQueuedBody() throws {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.get()))
        _ = client.machine.sendResponseHead(streamID: 1, status: 200, endStream: false, now: client.now) { _ in }
        _ = client.machine.sendData(streamID: 1, [1, 2, 3][...], endStream: false, now: client.now)
        client.record(client.machine.sendTrailers(streamID: 1, now: client.now) { $0.add(name: "grpc-status", value: "0") }.actions)
        let frames = client.takeFrames()
        let heads = try client.decodedHeaders(in: frames)
        #expect(heads.count == 2 && heads[1].fields == fields([("grpc-status", "0")]))
        #expect(frames.last?.payload == .headers(fragment: frames.last.map { frame -> [UInt8] in
            if case .headers(let fragment, _, _) = frame.payload { return fragment }
            return []
        } ?? [], endStream: true, endHeaders: true))
        #expect(client.machine.activeStreamCount == 0)
    }

    @Test func concurrentStreamsBeyondTheLimitAreRefused() {
        var configuration = HTTP2ServerConfiguration()
        configuration.maxConcurrentStreams = 2
        var client = HTTP2TestClient(configuration: configuration)
        for stream in [1, 3, 5] as [UInt32] { client.send(client.headers(stream: stream, HTTP2TestClient.get())) }
        #expect(client.takeFrames().resets(5) == .refusedStream)
        #expect(client.machine.activeStreamCount == 2)
        // The refused stream's block was decoded: the HPACK state is still in step.
        client.send(client.headers(stream: 7, HTTP2TestClient.get()))
        #expect(client.machine.activeStreamCount == 2)
        _ = client.machine.sendResponseHead(streamID: 1, status: 204, endStream: true, now: client.now) { _ in }
        let actions = client.send(client.headers(stream: 9, HTTP2TestClient.get("/nine")))
        #expect(actions.contains { if case .request(9, let head, _) = $0 { head.path == "/nine" } else { false } })
    }

    @Test func cancelStreamFromTheHandlerResetsIt() {
        var client = HTTP2TestClient()
        client.send(client.headers(stream: 1, HTTP2TestClient.get()))
        client.record(client.machine.cancelStream(streamID: 1))
        #expect(client.takeFrames().resets(1) == .internalError)
        #expect(!client.actions.contains(.streamReset(streamID: 1, .internalError)))
        // Frames the client sent before it saw the reset are ignored.
        client.send(client.data(stream: 1, [1]))
        #expect(client.takeFrames().goAway == nil)
    }

    @Test func settingsNotAcknowledgedInTimeEndTheConnection() {
        var client = HTTP2TestClient(handshake: false)
        var settings: [UInt8] = []
        HTTP2FrameEncoder.settings([], into: &settings)
        client.send(HTTP2Wire.clientPreface + settings)
        #expect(client.machine.nextDeadline != nil)
        client.advance(seconds: 11)
        client.record(client.machine.timerFired(now: client.now))
        #expect(client.takeFrames().goAway?.code == .settingsTimeout)
    }
}
