/// Frames from the client.
extension HTTP2ServerConnectionStateMachine {
    mutating func handle(_ frame: HTTP2Frame, now: UInt64) {
        if headerBlock != nil {
            continueHeaderBlock(frame, now: now)
            return
        }
        switch frame.payload {
        case .data(let bytes, let endStream, let flowControlledLength):
            receivedData(
                streamID: frame.streamID, bytes: bytes, endStream: endStream,
                flowControlledLength: flowControlledLength, now: now)
        case .headers(let fragment, let endStream, let endHeaders):
            guard fragment.count <= configuration.maxHeaderBlockSize else {
                connectionError(.connection(.enhanceYourCalm, "field block larger than the limit"))
                return
            }
            let block = HeaderBlock(streamID: frame.streamID, fragment: fragment, endStream: endStream)
            if endHeaders {
                finishHeaderBlock(block, now: now)
            } else {
                headerBlock = block
            }
        case .priority, .unknown:
            break
        case .rstStream(let code):
            receivedReset(streamID: frame.streamID, code: code, now: now)
        case .settings(let ack, let settings):
            if ack {
                settingsSentAt = nil
            } else {
                noteControlFrame(now: now)
                guard !isClosed else { return }
                applyPeerSettings(settings, now: now)
            }
        case .pushPromise:
            connectionError(.connection(.protocolError, "PUSH_PROMISE from a client"))
        case .ping(let ack, let opaque):
            guard !ack else { return }
            noteControlFrame(now: now)
            guard !isClosed else { return }
            HTTP2FrameEncoder.ping(ack: true, opaque: opaque, into: &output)
        case .goAway:
            goAwayReceived = true
        case .windowUpdate(let increment):
            receivedWindowUpdate(streamID: frame.streamID, increment: increment, now: now)
        case .continuation:
            connectionError(.connection(.protocolError, "CONTINUATION without HEADERS"))
        }
    }

    /// A frame while a field block is open: only its CONTINUATION may come (§6.10), and
    /// only so many of them, adding up to only so much (the CONTINUATION flood).
    private mutating func continueHeaderBlock(_ frame: HTTP2Frame, now: UInt64) {
        guard var block = headerBlock, case .continuation(let fragment, let endHeaders) = frame.payload,
            frame.streamID == block.streamID
        else {
            connectionError(.connection(.protocolError, "field block interrupted"))
            return
        }
        block.continuations += 1
        guard block.continuations <= configuration.maxContinuationFrames else {
            connectionError(.connection(.enhanceYourCalm, "too many CONTINUATION frames"))
            return
        }
        guard fragment.count <= configuration.maxHeaderBlockSize - block.fragment.count else {
            connectionError(.connection(.enhanceYourCalm, "field block larger than the limit"))
            return
        }
        block.fragment.append(contentsOf: fragment)
        if endHeaders {
            headerBlock = nil
            finishHeaderBlock(block, now: now)
        } else {
            headerBlock = block
        }
    }

    /// A complete field block: a new request, trailers, or (on a stream we no longer
    /// serve) decoded only to keep HPACK in step.
    private mutating func finishHeaderBlock(_ block: HeaderBlock, now: UInt64) {
        let id = block.streamID
        var fields: [HPACKHeaderField] = []
        var tooLarge = false
        do {
            fields = try decoder.decode(block.fragment)
        } catch {
            guard error.code == .headerListTooLarge else {
                connectionError(.connection(.compressionError, error.description))
                return
            }
            tooLarge = true
        }
        if streams[id] != nil {
            receivedTrailers(streamID: id, fields: fields, tooLarge: tooLarge, endStream: block.endStream, now: now)
            return
        }
        guard id & 1 == 1 else {
            connectionError(.connection(.protocolError, "client stream with an even identifier"))
            return
        }
        guard id > lastPeerStreamID else {
            if !locallyReset.contains(id) {
                connectionError(.connection(.streamClosed, "HEADERS on a closed stream"))
            }
            return
        }
        lastPeerStreamID = id
        if goAwaySent {
            // Beyond the GOAWAY's last stream: not processed; the client may retry elsewhere.
            rememberLocallyReset(id)
            closeIfDrained()
            return
        }
        guard streams.count < configuration.maxConcurrentStreams else {
            resetStream(id, code: .refusedStream)
            noteReset(now: now)
            return
        }
        streams[id] = Stream(
            remoteClosed: block.endStream, sendWindow: Int(peerSettings.initialWindowSize),
            receiveWindow: configuration.initialStreamWindowSize)
        if tooLarge {
            respondWithError(streamID: id, HTTPServerError(.headerListTooLarge), now: now)
            return
        }
        let head: HTTP2RequestHead
        do {
            head = try HTTP2RequestHead(validating: fields)
        } catch {
            switch error {
            case .malformed(let reason):
                fail(.stream(id, .protocolError, reason), now: now)
            case .unsupported(let error):
                respondWithError(streamID: id, error, now: now)
            }
            return
        }
        if block.endStream, let length = head.contentLength, length != 0 {
            fail(.stream(id, .protocolError, "content-length without DATA"), now: now)
            return
        }
        streams[id]?.expectedLength = head.contentLength
        actions.append(.request(streamID: id, head, endStream: block.endStream))
    }

    private mutating func receivedTrailers(
        streamID id: UInt32, fields: [HPACKHeaderField], tooLarge: Bool, endStream: Bool, now: UInt64
    ) {
        guard let stream = streams[id], !stream.remoteClosed else {
            fail(.stream(id, .streamClosed, "HEADERS after END_STREAM"), now: now)
            return
        }
        guard endStream else {
            fail(.stream(id, .protocolError, "trailers without END_STREAM"), now: now)
            return
        }
        guard !tooLarge else {
            fail(.stream(id, .protocolError, "trailers larger than the limit"), now: now)
            return
        }
        do {
            try HTTP2RequestHead.validateTrailers(fields)
        } catch {
            fail(.stream(id, .protocolError, "malformed trailers"), now: now)
            return
        }
        if let expected = stream.expectedLength, expected != stream.receivedLength {
            fail(.stream(id, .protocolError, "body shorter than content-length"), now: now)
            return
        }
        actions.append(.endOfBody(streamID: id, trailers: fields))
        remoteEnded(id)
    }

    private mutating func receivedData(
        streamID id: UInt32, bytes: [UInt8], endStream: Bool, flowControlledLength: Int, now: UInt64
    ) {
        guard flowControlledLength <= connectionReceiveWindow else {
            connectionError(.connection(.flowControlError, "DATA beyond the connection window"))
            return
        }
        connectionReceiveWindow -= flowControlledLength
        connectionUnacknowledged += flowControlledLength
        // The connection window is returned as data arrives: the streams' windows bound what is buffered.
        if connectionUnacknowledged >= configuration.connectionWindowSize / 2 {
            HTTP2FrameEncoder.windowUpdate(streamID: 0, increment: UInt32(connectionUnacknowledged), into: &output)
            connectionReceiveWindow += connectionUnacknowledged
            connectionUnacknowledged = 0
        }
        if bytes.isEmpty && !endStream {
            noteControlFrame(now: now)
            guard !isClosed else { return }
        }
        guard var stream = streams[id] else {
            if id > lastPeerStreamID {
                connectionError(.connection(.protocolError, "DATA on an idle stream"))
            } else if !locallyReset.contains(id) {
                connectionError(.connection(.streamClosed, "DATA on a closed stream"))
            }
            return
        }
        guard !stream.remoteClosed else {
            fail(.stream(id, .streamClosed, "DATA after END_STREAM"), now: now)
            return
        }
        guard flowControlledLength <= stream.receiveWindow else {
            fail(.stream(id, .flowControlError, "DATA beyond the stream window"), now: now)
            return
        }
        stream.receiveWindow -= flowControlledLength
        // Padding is consumed on arrival; the data itself when the handler reads it.
        stream.unacknowledgedBytes += flowControlledLength - bytes.count
        stream.receivedLength += bytes.count
        streams[id] = stream
        if let expected = stream.expectedLength, stream.receivedLength > expected {
            fail(.stream(id, .protocolError, "body longer than content-length"), now: now)
            return
        }
        if !bytes.isEmpty { actions.append(.body(streamID: id, bytes)) }
        if endStream {
            if let expected = stream.expectedLength, expected != stream.receivedLength {
                fail(.stream(id, .protocolError, "body shorter than content-length"), now: now)
                return
            }
            actions.append(.endOfBody(streamID: id, trailers: []))
            remoteEnded(id)
        }
    }

    /// The client's side of `id` is done: half-closed (remote), or closed when ours is too.
    private mutating func remoteEnded(_ id: UInt32) {
        guard var stream = streams[id] else { return }
        stream.remoteClosed = true
        if stream.localClosed && stream.pendingCount == 0 && stream.pendingTrailers == nil {
            streams[id] = nil
            closeIfDrained()
        } else {
            streams[id] = stream
        }
    }

    private mutating func receivedReset(streamID id: UInt32, code: HTTP2ErrorCode, now: UInt64) {
        guard id <= lastPeerStreamID else {
            connectionError(.connection(.protocolError, "RST_STREAM on an idle stream"))
            return
        }
        guard streams.removeValue(forKey: id) != nil else { return }
        actions.append(.streamReset(streamID: id, code))
        noteReset(now: now)
        closeIfDrained()
    }

    private mutating func receivedWindowUpdate(streamID id: UInt32, increment: UInt32, now: UInt64) {
        let maxWindow = Int(HTTP2SettingsValues.maxWindowSize)
        if id == 0 {
            guard increment > 0 else {
                connectionError(.connection(.protocolError, "WINDOW_UPDATE of 0 on the connection"))
                return
            }
            connectionSendWindow += Int(increment)
            guard connectionSendWindow <= maxWindow else {
                connectionError(.connection(.flowControlError, "connection window above 2^31-1"))
                return
            }
            flush(now: now)
            return
        }
        guard id <= lastPeerStreamID else {
            connectionError(.connection(.protocolError, "WINDOW_UPDATE on an idle stream"))
            return
        }
        guard var stream = streams[id] else { return }
        guard increment > 0 else {
            fail(.stream(id, .protocolError, "WINDOW_UPDATE of 0"), now: now)
            return
        }
        stream.sendWindow += Int(increment)
        guard stream.sendWindow <= maxWindow else {
            fail(.stream(id, .flowControlError, "stream window above 2^31-1"), now: now)
            return
        }
        streams[id] = stream
        flush(now: now)
    }

    private mutating func applyPeerSettings(_ settings: [HTTP2Setting], now: UInt64) {
        let oldWindow = Int(peerSettings.initialWindowSize)
        for setting in settings {
            do {
                try peerSettings.apply(setting)
            } catch {
                connectionError(error)
                return
            }
            if setting.identifier == .headerTableSize {
                encoder.peerMaxTableSizeChanged(to: Int(setting.value))
            }
        }
        // §6.9.2: a new initial window size moves every stream's send window by the difference.
        let delta = Int(peerSettings.initialWindowSize) - oldWindow
        if delta != 0 {
            for (id, var stream) in streams {
                stream.sendWindow += delta
                guard stream.sendWindow <= Int(HTTP2SettingsValues.maxWindowSize) else {
                    connectionError(.connection(.flowControlError, "stream window above 2^31-1"))
                    return
                }
                streams[id] = stream
            }
        }
        HTTP2FrameEncoder.settingsAck(into: &output)
        flush(now: now)
    }
}
