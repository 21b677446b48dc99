import Reactor
import Synchronization

extension HTTPConnectionPool {
    /// Threads for the clients' lookups alone: a lookup whose queries go unanswered holds its
    /// thread until the resolver gives up (seconds), and on the shared blocking pool two such
    /// lookups (a service's own database and Redis at start) would hold up every other
    /// lookup, and scrypt, behind them.
    static let lookupPool = BlockingPool(threadCount: 4)

    /// The addresses of `origin`'s host, awaited until `deadline` at the latest.
    ///
    /// A name goes to ``HTTPClient/Configuration/resolve`` on ``lookupPool``; a lookup that
    /// hangs in the resolver's retries (5 s a try by default, and a container's DNS server can
    /// drop queries while it reloads) keeps that thread, but the caller stops waiting at its
    /// deadline with `.connectTimeout`, and a lookup still queued by then is never started.
    /// Numeric hosts and `localhost` need no lookup. Loop-only.
    func resolve(_ origin: HTTPOrigin, until deadline: UInt64) async throws(HTTPClientError) -> [SocketAddress] {
        loop.preconditionInLoop()
        if let numeric = SocketAddress(numericHost: origin.host, port: origin.port) { return [numeric] }
        if origin.host == "localhost", let loopback = SocketAddress(numericHost: "127.0.0.1", port: origin.port) {
            return [loopback]
        }
        let lookup = Lookup()
        let resolve = configuration.resolve
        let (host, port, loop) = (origin.host, origin.port, loop)
        do {
            return try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<[SocketAddress], any Error>) in
                lookup.continuation.withLock { $0 = continuation }
                let now = monotonicNanoseconds()
                lookup.timer = loop.schedule0(
                    after: .nanoseconds(Int64(deadline > now ? deadline - now : 0)),
                    { lookup.finish(.failure(HTTPClientError(.connectTimeout, requestMayHaveBeenSent: false))) },
                    loopStopped: { lookup.finish(.failure(HTTPClientError(.shutdown, requestMayHaveBeenSent: false))) })
                Self.lookupPool.submit {
                    // A lookup queued behind hung ones whose caller has stopped waiting is
                    // skipped: it would only hold a thread for an answer nobody reads.
                    guard lookup.isAwaited else { return }
                    do {
                        lookup.finish(.success(try resolve(host, port)))
                    } catch {
                        lookup.finish(.failure(HTTPClientError(.connectFailed, requestMayHaveBeenSent: false, underlying: error)))
                    }
                    loop.execute { lookup.timer?.cancel() }
                }
            }
        } catch let error as HTTPClientError {
            throw error
        } catch {
            preconditionFailure("a lookup failed with \(error)")
        }
    }

    /// One lookup's waiter, resumed once: by the answer (a pool thread) or the deadline (the
    /// loop). `@unchecked Sendable`: `continuation` is behind its mutex, `timer` loop-only.
    final class Lookup: @unchecked Sendable {
        let continuation = Mutex<UnsafeContinuation<[SocketAddress], any Error>?>(nil)
        /// The deadline's timer. Loop-only.
        var timer: TimerHandle?

        /// Whether the caller still waits (neither answered nor past its deadline).
        var isAwaited: Bool { continuation.withLock { $0 != nil } }

        func finish(_ result: Result<[SocketAddress], HTTPClientError>) {
            guard let continuation = continuation.withLock({ $0.take() }) else { return }
            continuation.resume(with: result.mapError { $0 as any Error })
        }
    }
}
