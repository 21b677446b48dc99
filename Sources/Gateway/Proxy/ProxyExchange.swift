import HTTP
import Reactor

/// One proxied response whose body is still to be streamed: holds the leased upstream
/// connection until the body has been passed on, then releases it, records the
/// instance's outcome and writes the access-log line, exactly once.
///
/// Why a class with a deinit: the server may never call the body writer (the client
/// vanished before the head went out, or the response has no body after all); the
/// deinit then closes the connection, so a lease can never leak. Loop-bound.
final class ProxyExchange: @unchecked Sendable {
    private let gateway: Gateway
    private let context: Gateway.Context
    private let connection: HTTPClientConnection
    private let upstream: UpstreamGroup
    private let index: Int
    private let status: Int
    private let upstreamTime: UInt64
    private let outcome: UpstreamGroup.Outcome
    private var isDone = false

    init(
        gateway: Gateway, context: Gateway.Context, connection: HTTPClientConnection, upstream: UpstreamGroup,
        index: Int, status: Int, upstreamTime: UInt64, outcome: UpstreamGroup.Outcome
    ) {
        self.gateway = gateway
        self.context = context
        self.connection = connection
        self.upstream = upstream
        self.index = index
        self.status = status
        self.upstreamTime = upstreamTime
        self.outcome = outcome
    }

    deinit {
        guard !isDone else { return }
        // Never streamed: the connection holds an unread body, so it cannot be reused.
        let connection = self.connection
        if connection.loop.inLoop {
            connection.close()
            connection.release()
        } else {
            connection.loop.execute {
                connection.close()
                connection.release()
            }
        }
        upstream.finish(index, outcome: .neutral)
        gateway.log(context, status: 499, bytes: 0, upstream: upstream.labels[index], upstreamTime: upstreamTime)
    }

    /// Copies the upstream body to the client, one read buffer at a time: each piece is
    /// written (into the kernel) before the next is read, so memory stays bounded and a
    /// slow client slows the upstream down. A chunked body's trailers follow it, as far as
    /// a trailer may carry them (``HeaderHygiene/forwardedTrailers(_:)``) and the
    /// client's framing has a place for them.
    func pump(to writer: HTTPBodyWriter) async throws {
        var bytes = 0
        do {
            while let piece = try await connection.nextBodyBytes() {
                bytes += piece.count
                // `piece` points into the connection's buffer, valid until its next call:
                // copied here, before the write suspends.
                try await writer.write(ArraySlice(piece))
            }
            writer.trailers = HeaderHygiene.forwardedTrailers(connection.responseTrailers)
        } catch let error as HTTPClientError {
            // Cancelled: the client went away (over HTTP/2, its stream was reset), not the instance.
            if Task.isCancelled {
                finish(bytes: bytes, outcome: .neutral, status: 499)
            } else {
                finish(bytes: bytes, outcome: .failure, status: status)
            }
            throw error
        } catch {
            // The client went away.
            finish(bytes: bytes, outcome: .neutral, status: 499)
            throw error
        }
        complete(bytes: bytes)
    }

    /// The body was passed on whole (or there was none).
    func complete(bytes: Int) {
        finish(bytes: bytes, outcome: outcome, status: status)
    }

    private func finish(bytes: Int, outcome: UpstreamGroup.Outcome, status: Int) {
        guard !isDone else { return }
        isDone = true
        Self.settle(
            gateway: gateway, context: context, connection: connection, upstream: upstream, index: index,
            bytes: bytes, outcome: outcome, status: status, upstreamTime: upstreamTime)
    }

    /// Ends an exchange whose body has been passed on (or had none): the connection goes
    /// back to the pool (closed unless the upstream answered and the client took it all),
    /// the instance's outcome is recorded and the access-log line written. Small bodies,
    /// read whole, are settled with this directly, without an exchange object.
    static func settle(
        gateway: Gateway, context: Gateway.Context, connection: HTTPClientConnection, upstream: UpstreamGroup,
        index: Int, bytes: Int, outcome: UpstreamGroup.Outcome, status: Int, upstreamTime: UInt64
    ) {
        if outcome != .success || status == 499 { connection.close() }
        connection.release()
        upstream.finish(index, outcome: outcome)
        gateway.log(context, status: status, bytes: bytes, upstream: upstream.labels[index], upstreamTime: upstreamTime)
    }
}
