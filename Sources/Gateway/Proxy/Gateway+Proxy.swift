import HTTP
import Instrumentation
import Reactor
import Telemetry

extension Gateway {
    /// How many times one request may be sent: the first try and up to two more, on
    /// another instance when the first failed before any response byte, or on a fresh
    /// connection when a pooled one turned out to be closed.
    static let maxAttempts = 3

    /// Forwards `request` to an instance of `upstream` and streams the answer back.
    ///
    /// Waiting: when every pooled connection to the instance is busy the request waits in
    /// the pool's queue (`UPSTREAM_QUEUE_SIZE` long, for `UPSTREAM_QUEUE_TIMEOUT`); a
    /// request that finds the queue full, or waits out its deadline, gets 503 with
    /// `Retry-After`: the gateway's own limit, never the 502 of a broken upstream.
    ///
    /// Retries (RFC 9110 §9.2.2), each on another instance when the group has more than one:
    /// - a connection that cannot be made, or a full queue: nothing was sent, any method;
    /// - an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS) whose connection closed or
    ///   reset before any response byte (an instance that stopped or restarted under it,
    ///   or a pooled connection it had closed); so is a POST to a route that honours
    ///   `Idempotency-Key` (the gateway adds a random key when the client sent none, and the
    ///   service answers a second arrival of the key from the first), and the read-only
    ///   `POST /api/movies/batch` (``RouteTable/postResend(target:)``);
    /// - any request answered 408: the instance says it did not read it (a draining
    ///   instance ends its idle connections so, RFC 9110 §15.5.9), so even a POST is safe
    ///   to send again.
    /// A body of at most `collectLimit` bytes is read whole first, so that it can be sent
    /// again. Nothing else is retried: any other POST whose connection closed without an
    /// answer may have done its work (the instance died after reading it) and is never sent
    /// twice, nor is a request that timed out (the instance may still be working on it).
    ///
    /// `extracted` is what the process's instrument extracted when it is not ours
    /// (``TracePropagation``), for it to inject; nil with ours, whose fields hygiene writes.
    @inline(__always)  // into handle, so into the responder's witness: one async frame per request fewer
    func proxy(
        _ request: consuming HTTPServerRequest, to upstream: UpstreamGroup, target: String, _ context: Context,
        extracted: InstrumentationContext?
    ) async throws -> HTTPServerResponse {
        let userID: String?
        switch tokens.verdict(for: request.headers) {
        case .absent: userID = nil
        case .valid(let subject): userID = subject
        case .invalid:
            return errorResponse(
                APIError(.unauthorized, detail: "Invalid or expired token", headers: ["WWW-Authenticate": "Bearer"]),
                context)
        }
        let framing = HeaderHygiene.framing(of: request.headers)
        if case .length(let length) = framing, length > configuration.maxBodySize {
            return errorResponse(tooLarge, context)
        }
        let peer = HeaderHygiene.Peer(
            address: context.client,
            isTrusted: CIDR.anyContains(configuration.trustedProxies, context.client),
            scheme: context.scheme)
        // The head is taken out of the request, so that hygiene edits its fields in place.
        let clientHead = request.head
        request.head.headers = HTTPHeaders()
        // Our own instrument's fields are written by hygiene; another instrument injects its own.
        var head = HeaderHygiene.upstreamRequestHead(
            clientHead, target: target, peer: peer, requestID: context.requestID, userID: userID,
            trace: tracing.isW3C ? context.trace : nil, keepsTraceState: tracing.isW3C && context.traceContinued,
            hasClientTraceparent: context.hasClientTraceparent, framing: framing)
        if !tracing.isW3C {
            tracing.inject(tracing.context(for: context.trace, extracted: extracted), into: &head.headers)
        }
        let postResend = request.method == .POST ? RouteTable.postResend(target: target) : .never
        if postResend == .withKey && !head.headers.contains(name: IdempotencyKeys.headerName) {
            head.headers.add(name: IdempotencyKeys.headerName, value: IdempotencyKeys.random())
        }
        // A small body is kept, so that the request can be sent again.
        var keptBody: [UInt8]?
        if case .length(let length) = framing, length <= Self.collectLimit {
            do {
                keptBody = try await readBody(of: request, length: length)
            } catch let error as HTTPServerError {
                return errorResponse(APIError(error), context)
            } catch let error as APIError {
                return errorResponse(error, context)
            } catch {
                log(context, status: 499, bytes: 0, upstream: nil, upstreamTime: nil)
                throw error
            }
        }
        // The whole request can be sent again (after a 408); when idempotent (or a POST that
        // a key makes so), also after a close without answer.
        let resendable = framing == .none || keptBody != nil
        let replayable = (request.method.isIdempotent || postResend != .never) && resendable
        let otherInstances = upstream.origins.count > 1

        var excluded: Int?
        var attempt = 0
        while true {
            attempt += 1
            let index = upstream.select(excluding: excluded)
            let connection: HTTPClientConnection
            do {
                connection = try await client.connection(to: upstream.origins[index])
            } catch {
                if error.code == .cancelled {
                    // The client went away while the request waited for a connection: nothing was sent.
                    upstream.finish(index, outcome: .neutral)
                    log(context, status: 499, bytes: 0, upstream: upstream.labels[index], upstreamTime: nil)
                    return Self.clientGone
                }
                let queued = error.code == .poolTimeout || error.code == .poolQueueFull
                upstream.finish(index, outcome: queued ? .neutral : .failure)
                // Nothing was sent: another instance may take it (not after a queue
                // deadline, which is the request's whole allowance for waiting).
                if attempt < Self.maxAttempts && otherInstances && error.code != .poolTimeout {
                    excluded = index
                    connectRetries.add(1, ordering: .relaxed)
                    continue
                }
                if queued { return busyResponse(upstream, context) }
                return upstreamError(error, upstream, context)
            }
            let sent = logClock()
            var bodyRead = false
            do {
                try connection.sendHead(head)
                if let keptBody {
                    try await connection.sendBody(keptBody[...])
                } else if framing != .none {
                    bodyRead = true
                    try await forwardBody(of: request, to: connection)
                }
                // A streamed body's trailers go on when the upstream body is chunked.
                try await connection.finishRequest(
                    trailers: bodyRead ? HeaderHygiene.forwardedTrailers(request.body.trailers) : nil)
                let responseHead = try await connection.readResponseHead()
                if responseHead.status.code == 408 && resendable {
                    // Not read by the instance (it is draining, or the request reached it too
                    // slowly): sent again, to another instance when there is one.
                    connection.close()
                    connection.release()
                    upstream.finish(index, outcome: .neutral)
                    if attempt < Self.maxAttempts {
                        if otherInstances { excluded = index }
                        unreadRetries.add(1, ordering: .relaxed)
                        continue
                    }
                    return errorResponse(
                        APIError(
                            .serviceUnavailable, detail: "\(upstream.service.displayName) unavailable, retry later",
                            headers: ["Retry-After": "1"]),
                        context)
                }
                return try await respond(
                    with: responseHead, from: connection, upstream: upstream, index: index,
                    upstreamTime: logClock() &- sent, request: request, context)
            } catch let error as HTTPClientError {
                connection.close()
                connection.release()
                if Task.isCancelled {
                    // The client went away (the server cancelled this handler, and with it the
                    // wait on the upstream connection, which is now closed: the service sees its
                    // client go too). Cut off, not failed upstream, and not sent again.
                    upstream.finish(index, outcome: .neutral)
                    abandonedUpstreamRequests.add(1, ordering: .relaxed)
                    log(context, status: 499, bytes: 0, upstream: upstream.labels[index], upstreamTime: nil)
                    return Self.clientGone
                }
                if replayable && !bodyRead && attempt < Self.maxAttempts {
                    if error.isStaleConnection {
                        // The upstream had closed this pooled connection; the request never arrived.
                        upstream.finish(index, outcome: .neutral)
                        if otherInstances { excluded = index }
                        staleConnectionRetries.add(1, ordering: .relaxed)
                        continue
                    }
                    if configuration.retryIdempotent && otherInstances && error.code == .connectionClosed
                        && !error.responseBytesReceived
                    {
                        // The instance went away under the request (a restart, a crash).
                        upstream.finish(index, outcome: .failure)
                        excluded = index
                        instanceRetries.add(1, ordering: .relaxed)
                        continue
                    }
                }
                upstream.finish(index, outcome: error.code == .cancelled ? .neutral : .failure)
                return upstreamError(error, upstream, context)
            } catch let error as HTTPServerError {
                // The client's body: malformed or too slow.
                connection.close()
                connection.release()
                upstream.finish(index, outcome: .neutral)
                return errorResponse(APIError(error), context)
            } catch let error as APIError {
                // The client's body: over the gateway's limit.
                connection.close()
                connection.release()
                upstream.finish(index, outcome: .neutral)
                return errorResponse(error, context)
            } catch {
                // The client went away while sending its body.
                connection.close()
                connection.release()
                upstream.finish(index, outcome: .neutral)
                abandonedUpstreamRequests.add(1, ordering: .relaxed)
                log(context, status: 499, bytes: 0, upstream: upstream.labels[index], upstreamTime: nil)
                throw error
            }
        }
    }

    /// What a handler answers a client that went away: nobody reads it (the server drops it
    /// and ends the connection), and unlike a thrown error it is not a handler failure.
    static var clientGone: HTTPServerResponse {
        HTTPServerResponse(status: HTTPStatus(code: 499, reasonPhrase: "Client Closed Request"), body: .empty)
    }

    /// 503 with `Retry-After`: every connection to the service is busy and the queue for
    /// them is full or was waited in for `UPSTREAM_QUEUE_TIMEOUT`.
    func busyResponse(_ upstream: UpstreamGroup, _ context: Context) -> HTTPServerResponse {
        busyRejections.add(1, ordering: .relaxed)
        return errorResponse(
            APIError(
                .serviceUnavailable, detail: "\(upstream.service.displayName) busy, retry later",
                headers: ["Retry-After": "1"]),
            context)
    }

    /// Reads a body of `length` bytes whole (a request to keep for a retry).
    private func readBody(of request: HTTPServerRequest, length: Int) async throws -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(length)
        while let chunk = try await request.body.next() {
            body.append(contentsOf: chunk)
            if body.count > configuration.maxBodySize { throw tooLarge }
        }
        return body
    }

    private var tooLarge: APIError {
        APIError(.payloadTooLarge, detail: "Request body too large (limit \(configuration.maxBodySize) bytes)")
    }

    /// Streams the client's body upstream, piece by piece: each piece is written before
    /// the next is read, so a slow upstream slows the client (backpressure), and at most
    /// a read buffer's worth is held.
    private func forwardBody(of request: HTTPServerRequest, to connection: HTTPClientConnection) async throws {
        var total = 0
        while let chunk = try await request.body.next() {
            total += chunk.count
            if total > configuration.maxBodySize { throw tooLarge }
            try await connection.sendBody(chunk)
        }
    }

    /// The client's response for an upstream response head; the body is streamed by the
    /// server through a ``ProxyExchange``, which releases the connection at the end.
    /// Bodies up to this size are read whole before answering (one write to the client).
    static let collectLimit = 64 << 10

    private func respond(
        with head: consuming HTTPResponseHead, from connection: HTTPClientConnection, upstream: UpstreamGroup,
        index: Int, upstreamTime: UInt64, request: HTTPServerRequest, _ context: Context
    ) async throws(HTTPClientError) -> HTTPServerResponse {
        let failed = head.status.code == 502 || head.status.code == 503 || head.status.code == 504
        let headLength = request.method == .HEAD ? head.headers[.contentLength].flatMap { Int($0) } : nil
        // Taken out of the head, so that hygiene edits the parsed fields in place.
        let upstreamHeaders = head.headers
        head.headers = HTTPHeaders()
        let headers = HeaderHygiene.clientResponseHeaders(
            upstreamHeaders, requestID: context.requestID,
            hstsMaxAge: context.scheme == "https" && configuration.hstsMaxAge > 0 ? configuration.hstsMaxAge : nil,
            keepsTrailerField: connection.responseBodyKind == .chunked)
        let outcome: UpstreamGroup.Outcome = failed ? .failure : .success
        switch connection.responseBodyKind {
        case .none:
            ProxyExchange.settle(
                gateway: self, context: context, connection: connection, upstream: upstream, index: index,
                bytes: 0, outcome: outcome, status: head.status.code, upstreamTime: upstreamTime)
            if let length = headLength {
                // The server calls no writer for HEAD: this only states the length.
                return HTTPServerResponse(status: head.status, headers: headers, body: .stream(length: length) { _ in })
            }
            return HTTPServerResponse(status: head.status, headers: headers, body: .empty)
        case .length(let length) where length <= Self.collectLimit:
            // A small body (the usual JSON answer) is read whole, so that the server
            // writes head and body with one system call and the connection goes back to
            // the pool at once. Bounded: at most `collectLimit` bytes per request. A failed
            // read is the caller's to settle (it closes the connection and answers 502/504).
            let body = try await connection.collectBody(maxSize: length)
            ProxyExchange.settle(
                gateway: self, context: context, connection: connection, upstream: upstream, index: index,
                bytes: body.count, outcome: outcome, status: head.status.code, upstreamTime: upstreamTime)
            return HTTPServerResponse(status: head.status, headers: headers, body: .bytes(body))
        default:
            break
        }
        // A body to stream: the exchange holds the connection until it has been passed on.
        let exchange = ProxyExchange(
            gateway: self, context: context, connection: connection, upstream: upstream, index: index,
            status: head.status.code, upstreamTime: upstreamTime, outcome: outcome)
        let length: Int?
        switch connection.responseBodyKind {
        case .length(let known): length = known
        case .none, .chunked, .untilClose: length = nil  // (.none was answered above)
        }
        return HTTPServerResponse(
            status: head.status, headers: headers,
            body: .stream(length: length) { writer in try await exchange.pump(to: writer) })
    }

    /// 502 (unavailable) or 504 (timed out) with the service's name.
    func upstreamError(_ error: HTTPClientError, _ upstream: UpstreamGroup, _ context: Context) -> HTTPServerResponse {
        let name = upstream.service.displayName
        let timedOut: Bool
        switch error.code {
        case .connectTimeout, .responseTimeout, .readTimeout, .writeTimeout: timedOut = true
        default: timedOut = false
        }
        let httpError =
            timedOut
            ? APIError(.gatewayTimeout, detail: "\(name) timed out")
            : APIError(.badGateway, detail: "\(name) unavailable")
        return errorResponse(httpError, context)
    }
}
