import Reactor

/// Reading a request: its head (``readHead()``, with the header and idle timeouts and the
/// answers to what cannot be read) and its body, piece by piece for ``HTTPRequestBody``
/// (``nextBodyChunk()``, with `Expect: 100-continue` and the body timeout), or skipped when
/// the handler left it (``finishRequestBody()``).
extension HTTPServerConnection {
    /// Reads and parses until a whole head is there; nil when the connection should close
    /// (EOF, timeout, malformed request — answered here).
    @inline(__always)  // called once per request, from serve: one async frame fewer
    func readHead() async -> HTTPRequestHead? {
        var headDeadline: UInt64?
        while true {
            let event = buffer.withUnread { parser.next($0) }
            // Consumed, so that the head is moved out of the event rather than copied.
            switch consume event {
            case .head(let head, let consumed):
                buffer.consume(consumed)
                stream.readDeadline = nil
                idleDeadline = nil
                return head
            case .invalid(let error):
                sendErrorAndClose(HTTPServerError(.malformedRequest(error)))
                return nil
            case .body, .end:
                preconditionFailure("body event while waiting for a head")
            case .needMore:
                do {
                    // Answers go out at the end of the loop's round (see
                    // ByteStream.sendAtEndOfRound), or now if the transport cannot wait.
                    if !output.isEmpty, !stream.sendAtEndOfRound(&output) { try await flush() }
                } catch {
                    machine.closed()
                    ending = .abort
                    return nil
                }
                if buffer.unreadCount > 0 { machine.bytesReceived() }
                if machine.state == .readingHead {
                    if headDeadline == nil {
                        headDeadline = loop.now &+ headerReadTimeout
                    }
                    stream.readDeadline = headDeadline
                } else {
                    // Draining, a connection waits only for the request it was opened for.
                    let deadline = idleDeadline ?? loop.now &+ (machine.isDraining ? headerReadTimeout : idleTimeout)
                    idleDeadline = deadline
                    stream.readDeadline = deadline
                }
                do {
                    if buffer.unreadCount == 0, let watched = socket ?? stream.socketToWatch, watched.isKnownDrained {
                        // Nothing to parse and nothing to read yet: wait holding no buffer
                        // (an idle keep-alive connection costs its socket and little else).
                        loop.bufferPool.recycle(&output)
                        buffer.release()
                        // The same socket every time (the stream's): stored once, no retain per request.
                        if watchedSocket !== watched { watchedSocket = watched }
                        if try await !waitOrPark(watched) {
                            parks = true
                            return nil
                        }
                    }
                    let count = try await buffer.readMore(from: stream, socket: socket)
                    if count == 0 {
                        // The client has sent all it will (or a drain ended the reading);
                        // what it asked for still goes out, as the connection ends.
                        if machine.inputEnded() == .sendRequestTimeoutAndClose {
                            sendErrorAndClose(HTTPServerError(.shuttingDown))
                        }
                        return nil
                    }
                    machine.bytesReceived()
                } catch let error as IOError where error.code == .timedOut {
                    let idle = machine.state == .idle
                    if machine.timedOut() == .sendRequestTimeoutAndClose {
                        sendErrorAndClose(
                            HTTPServerError(idle ? .shuttingDown : .headerTimeout))
                    }
                    return nil
                } catch is ReadBuffer.BufferFull {
                    sendErrorAndClose(HTTPServerError(.headerTooLarge))
                    return nil
                } catch {
                    machine.closed()
                    ending = .abort
                    return nil
                }
            }
        }
    }

    /// Waits for the socket to become readable; returns false instead when an idle connection
    /// should park: too many wait already (``IdleWaitQueue/join(_:)``), or ``idleWaiters``
    /// ended the wait (``TCPSocket/endReadWait()``) before the idle deadline, because it had
    /// lasted the parking delay.
    @inline(__always)  // called once per request, from readHead: one async frame fewer
    private func waitOrPark(_ socket: TCPSocket) async throws -> Bool {
        guard idleWaiters != nil, machine.state == .idle, !machine.isDraining else {
            try await socket.waitUntilReadable()
            return true
        }
        let deadline = idleDeadline ?? 0
        if deadline <= loop.now { throw IOError(.timedOut, operation: "read") }
        // Read from the connection each time rather than bound once: a local would be
        // retained across the wait.
        guard idleWaiters.unsafelyUnwrapped.join(self) else { return false }
        defer { idleWaiters.unsafelyUnwrapped.leave(self) }
        // The queue's sweep ends this wait, by its deadline too: no read timer per connection.
        socket.readDeadline = nil
        defer { socket.readDeadline = deadline }
        do {
            try await socket.waitUntilReadable()
            return true
        } catch let error as IOError where error.code == .timedOut && loop.now < deadline {
            return false
        }
    }

    /// A request without a body ends with its head: steps the parser past that end at once,
    /// so that a GET costs no body handling at all.
    func stepPastAbsentBody() {
        let event = buffer.withUnread { parser.next($0) }
        guard case .end(let consumed, _) = event else { preconditionFailure("a request without a body did not end") }
        buffer.consume(consumed)
    }

    /// The next piece of the current request's body, for ``HTTPRequestBody``.
    func nextBodyChunk() async throws -> ArraySlice<UInt8>? {
        if bodyFinished { return nil }
        if bodyFailed { throw HTTPServerError(.malformedBody) }
        if expectsContinue && !continueSent {
            // The client waits for this before sending the body (RFC 9110 §10.1.1).
            continueSent = true
            do {
                try await flush()
                try await stream.write(Self.continueResponse)
            } catch {
                connectionFailed = true
                throw error
            }
        }
        while true {
            let event = buffer.withUnread { parser.next($0) }
            switch event {
            case .body(let start, let count, let consumed):
                let chunk = buffer.copy(offset: start, count: count)
                buffer.consume(consumed)
                return chunk
            case .end(let consumed, let trailers):
                buffer.consume(consumed)
                bodyFinished = true
                bodyTrailers = trailers
                stream.readDeadline = nil
                return nil
            case .invalid(let error):
                bodyFailed = true
                throw HTTPServerError(.malformedRequest(error))
            case .head:
                preconditionFailure("head event inside a body")
            case .needMore:
                stream.readDeadline = loop.now &+ bodyReadTimeout
                let count: Int
                do {
                    count = try await buffer.readMore(from: stream, socket: socket)
                } catch let error as IOError where error.code == .timedOut {
                    bodyFailed = true
                    throw HTTPServerError(.bodyTimeout)
                } catch {
                    bodyFailed = true
                    connectionFailed = true
                    throw error
                }
                if count == 0 {
                    bodyFailed = true
                    connectionFailed = true
                    throw IOError(.eof, operation: "read request body")
                }
            }
        }
    }

    /// Skips what the handler left of the request body, so the next request can be read.
    /// - Returns: false when that is not possible (the body was malformed, the client is
    ///   still waiting for 100 Continue, or too much is left), and the connection must close.
    func finishRequestBody() async -> Bool {
        if bodyFinished { return true }
        if bodyFailed { return false }
        if expectsContinue && !continueSent { return false }
        var skipped = 0
        do {
            while let chunk = try await nextBodyChunk() {
                skipped += chunk.count
                if skipped > 1 << 20 { return false }
            }
            return true
        } catch {
            return false
        }
    }

    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}
