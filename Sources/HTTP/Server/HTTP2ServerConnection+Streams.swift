import Logging
import Reactor

/// Serving a stream: its handler's task calls the responder as soon as the request's head
/// is in, hands it the request body as it arrives, and sends the response, framed as flow
/// control allows.
extension HTTP2ServerConnection {
    /// A handler's task: serves `first`, then the streams the read loop hands it, until the
    /// connection ends or stays without streams for ``workerKeepTime``. Why not a task per
    /// stream: a new task costs its creation and its end, and allocates afresh the slabs
    /// its allocator holds the handler's async frames in; a task kept keeps them.
    func work(startingWith first: StreamJob) async {
        var job = first
        while true {
            await serve(job.id, head: job.head, exchange: job.exchange)
            // A cancelled task (its stream abandoned in the responder) stays cancelled: it
            // serves no other stream.
            guard !Task.isCancelled, !isClosed, !machine.isClosed,
                let next = await withCheckedContinuation({ worker in
                    idleWorkers.append(worker)
                    // The connection's timer ends waiting workers once it stays quiet.
                    if exchanges.isEmpty { armTimer() }
                })
            else { return }
            job = next
        }
    }

    /// Ends the handlers' tasks that wait for a stream.
    func releaseIdleWorkers() {
        let workers = idleWorkers
        idleWorkers = []
        for worker in workers { worker.resume(returning: nil) }
    }

    func serve(_ id: UInt32, head: HTTP2RequestHead, exchange: Exchange) async {
        let response: HTTPServerResponse
        let method = HTTPMethod(rawValue: head.method) ?? .GET
        if exchange.tooLarge || (head.contentLength ?? 0) > http2.maxRequestBodySize {
            // Refused before the handler runs, as HTTP/1.1's parser refuses an announced length.
            response = configuration.errorRenderer.response(
                for: HTTPServerError(.bodyTooLarge(limit: nil)))
        } else {
            let body: HTTPRequestBody
            let bodyLength: Int?
            if exchange.bodyComplete && exchange.trailers.isEmpty {
                // All there already (no body, or one that came with the head): handed over whole.
                // (With trailers it streams, framed as chunked, which can carry them on.)
                body = exchange.body.isEmpty ? .absent : HTTPRequestBody(bytes: exchange.body)
                bodyLength = exchange.body.count
                exchange.body = []
            } else {
                body = HTTPRequestBody(http2: HTTP2StreamHandle(connection: self, streamID: id, exchange: exchange))
                bodyLength = nil
            }
            let request = HTTPServerRequest(
                head: Self.requestHead(head, method: method, bodyLength: bodyLength), body: body, origin: origin)
            do {
                if configuration.cancelsAbandonedRequests {
                    // This task, kept only while it runs the responder (so surely alive).
                    withUnsafeCurrentTask { exchange.handler = $0 }
                }
                defer { exchange.handler = nil }
                response = try await responder.respond(to: consume request)
            } catch {
                response = configuration.response(toHandlerError: error, method: method, protocol: "HTTP/2")
            }
            // A handler that kept the body reads nothing more from this stream.
            body.detach()
            exchange.body = []
        }
        guard !exchange.reset, !isClosed else { return }
        await send(response, on: id, method: method, exchange: exchange)
        if !exchange.bodyComplete && !exchange.reset {
            // Answered before the whole request body (413, 408, or a handler that did not
            // read it): once the answer is framed, the rest of the body is refused with
            // RST_STREAM(NO_ERROR) (RFC 9113 §8.1), which also frees the stream's place
            // among the concurrent ones.
            while !exchange.reset, !isClosed, let pending = machine.pendingByteCount(streamID: id), pending > 0 {
                await withCheckedContinuation { exchange.waiter = $0 }
            }
            if !exchange.reset, !isClosed { perform(machine.cancelStream(streamID: id, code: .noError)) }
        }
        exchanges[id] = nil
        armTimer()
    }

    /// The next piece of a stream's request body for its handler, nil at its end. Asking
    /// for it says the handler is done with the previous piece: that much window goes back
    /// to the client (WINDOW_UPDATE as the state machine batches them).
    /// - Throws: ``HTTPServerError`` (413 over the size limit, 408 when the client stops
    ///   sending for `bodyReadTimeout`), ``IOError`` when the stream or connection ended.
    func nextBodyChunk(streamID id: UInt32, exchange: Exchange) async throws -> ArraySlice<UInt8>? {
        if exchange.unacknowledgedBytes > 0, !exchange.reset, !isClosed {
            machine.bodyConsumed(streamID: id, count: exchange.unacknowledgedBytes)
            exchange.unacknowledgedBytes = 0
            takeOutput()
        }
        while true {
            if exchange.reset || isClosed { throw IOError(.closed, operation: "read") }
            if exchange.tooLarge { throw HTTPServerError(.bodyTooLarge(limit: nil)) }
            if !exchange.body.isEmpty {
                let bytes = exchange.body
                exchange.body = []
                exchange.unacknowledgedBytes = bytes.count
                return bytes[...]
            }
            if exchange.bodyComplete { return nil }
            if exchange.bodyTimedOut { throw HTTPServerError(.bodyTimeout) }
            exchange.isReadingBody = true
            handlersReadingBody += 1
            exchange.bodyDeadline = loop.now &+ bodyReadTimeout
            armTimer()
            await withCheckedContinuation { exchange.waiter = $0 }
            exchange.isReadingBody = false
            handlersReadingBody -= 1
        }
    }

    /// The request as the responders see it: an HTTP/1.1-shaped head with version 2.0. A
    /// body without `content-length` (HTTP/2 frames bodies itself) is described as HTTP/1.1
    /// would frame it, so that a proxy forwards it so: `content-length` when it is all in
    /// already (`bodyLength`), else `transfer-encoding: chunked` (a body still streaming).
    ///
    /// The fields are copied as bytes, as the HTTP/1.1 parser stores what it accepted:
    /// ``HTTP2RequestHead`` checked them as strictly (lower-case token names, values without
    /// control bytes or surrounding whitespace), so no `String` is made per field.
    static func requestHead(_ head: HTTP2RequestHead, method: HTTPMethod, bodyLength: Int?) -> HTTPRequestHead {
        var hasHost = false
        var cookieFields = 0
        var cookies: [UInt8] = []
        var capacity = 0
        for field in head.fields {
            if HPACKPrimitives.equal(field.name, "cookie") {
                // Joined into one field for HTTP/1.1 (RFC 9113 §8.2.3).
                if cookieFields > 0 { cookies.append(contentsOf: "; ".utf8) }
                cookies.append(contentsOf: field.value)
                cookieFields += 1
                continue
            }
            if HPACKPrimitives.equal(field.name, "host") { hasHost = true }
            capacity += HTTPHeaders.recordSize(nameCount: field.name.count, valueCount: field.value.count)
        }
        let host = hasHost ? nil : head.authority
        if let host { capacity += HTTPHeaders.recordSize(nameCount: 4, valueCount: host.utf8.count) }
        if cookieFields > 0 { capacity += HTTPHeaders.recordSize(nameCount: 6, valueCount: cookies.count) }
        var framing: (name: StaticString, value: String)?
        if head.contentLength == nil {
            if let bodyLength {
                if bodyLength > 0 { framing = ("content-length", String(bodyLength)) }
            } else {
                framing = ("transfer-encoding", "chunked")
            }
        }
        if let framing {
            capacity += HTTPHeaders.recordSize(nameCount: framing.name.utf8CodeUnitCount, valueCount: framing.value.utf8.count)
        }
        let headers = HTTPHeaders(byteCapacity: capacity, spareCapacity: HTTPFieldSection.spareBytes) { writer in
            for field in head.fields where !HPACKPrimitives.equal(field.name, "cookie") {
                field.name.withUnsafeBytes { name in field.value.withUnsafeBytes { writer.append(name: name, value: $0) } }
            }
            if let host { host.withContiguousUTF8 { writer.append(name: Self.bytes("host"), value: UnsafeRawBufferPointer($0)) } }
            if cookieFields > 0 { cookies.withUnsafeBytes { writer.append(name: Self.bytes("cookie"), value: $0) } }
            if let framing {
                framing.value.withContiguousUTF8 { writer.append(name: Self.bytes(framing.name), value: UnsafeRawBufferPointer($0)) }
            }
        }
        return HTTPRequestHead(method: method, target: head.path, version: HTTPVersion(major: 2, minor: 0), headers: headers)
    }

    /// A literal's bytes (static memory, valid for as long as the process runs).
    private static func bytes(_ text: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
    }

    func send(_ response: HTTPServerResponse, on id: UInt32, method: HTTPMethod, exchange: Exchange) async {
        let code = response.status.code
        let plan = ResponseBodyPlan(response, method: method)
        let endsWithHead = !plan.sendsBody || (plan.streamWriter == nil && plan.bytes.isEmpty)
        let date = dateCache.currentField()
        let result = machine.sendResponseHead(streamID: id, status: code, endStream: endsWithHead, now: loop.now) { fields in
            response.headers.forEachField { name, value in
                guard !HTTPServerOwnedFields.contains(name) else { return }
                fields.add(name: name, value: value)
            }
            if let contentLength = plan.contentLength { fields.add(name: "content-length", decimal: contentLength) }
            if let serverName = configuration.serverName { fields.add(name: "server", value: serverName) }
            configuration.fixedFields.forEachField { name, value in fields.add(name: name, value: value) }
            // The cache holds the whole `Date: ...` CRLF line: the value is between the two.
            date.withUnsafeBytes { line in
                fields.add(name: "date", value: UnsafeRawBufferPointer(rebasing: line[6..<(line.count - 2)]))
            }
        }
        perform(result.actions)
        guard result.sent, !endsWithHead else { return }
        if let streamWriter = plan.streamWriter {
            let writer = HTTPBodyWriter(
                stream: HTTP2StreamHandle(connection: self, streamID: id, exchange: exchange), chunked: false,
                length: plan.contentLength, writeTimeout: configuration.writeTimeout.nanoseconds)
            do {
                try await streamWriter(writer)
                try await writer.finish()
            } catch {
                // A failed writer, or a body that does not match its content-length: the
                // client learns that the response is incomplete from the reset.
                if !exchange.reset, !isClosed {
                    configuration.logger.error(
                        "response body failed; stream reset", error: error,
                        metadata: ["method": .string(method.rawValue), "protocol": "HTTP/2"])
                }
                perform(machine.cancelStream(streamID: id, code: .internalError))
                return
            }
            if let trailers = writer.trailers, !trailers.isEmpty {
                perform(
                    machine.sendTrailers(streamID: id, now: loop.now) { fields in
                        trailers.forEachField { name, value in fields.add(name: name, value: value) }
                    }.actions)
            } else {
                perform(machine.sendData(streamID: id, [][...], endStream: true, now: loop.now).actions)
            }
        } else {
            perform(machine.sendData(streamID: id, plan.bytes[...], endStream: true, now: loop.now).actions)
        }
    }

    /// Queues a piece of a streamed body and waits until flow control has framed it and the
    /// socket has taken most of the output (backpressure for a slow client).
    func writeBody(_ bytes: ArraySlice<UInt8>, streamID id: UInt32, exchange: Exchange) async throws {
        guard !exchange.reset, !isClosed else { throw IOError(.closed, operation: "write") }
        perform(machine.sendData(streamID: id, bytes, endStream: false, now: loop.now).actions)
        while !exchange.reset, !isClosed, let pending = machine.pendingByteCount(streamID: id), pending > 0 {
            await withCheckedContinuation { exchange.waiter = $0 }
        }
        while !isClosed, machine.output.count > Self.outputHighWater {
            await withCheckedContinuation { outputWaiters.append($0) }
        }
        if exchange.reset || isClosed { throw IOError(.closed, operation: "write") }
    }
}
