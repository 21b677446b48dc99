#if canImport(Glibc)
import Glibc
#endif
import HTTP
import Reactor
import Synchronization
import Testing

/// A host name whose address the test moves, as a container's changes when it is stopped
/// and started again; counts the lookups the client makes.
final class MovingName: Sendable {
    private let address: Mutex<SocketAddress>
    let lookups = Atomic<Int>(0)

    init(_ address: SocketAddress) { self.address = Mutex(address) }

    func move(to address: SocketAddress) { self.address.withLock { $0 = address } }

    /// For ``HTTPClient/Configuration/resolve``.
    var resolve: @Sendable (String, Int) throws -> [SocketAddress] {
        { [self] _, _ in
            lookups.add(1, ordering: .relaxed)
            return [address.withLock { $0 }]
        }
    }
}

extension ClientTests {
    /// Answers and closes: no connection stays in the pool, so the next call connects.
    static let echoAndClose: ClientTestServer.Handler = { head, _, _ in
        .raw(ClientTestServer.response(body: head.target, headers: [("Connection", "close")]), thenClose: true)
    }

    static let movedURL = "http://movie-service.test:8002/movies/1"

    /// `GET movedURL` from the client loop (where the earlier calls left their pool).
    func getMovedURL(_ client: HTTPClient) async -> Result<HTTPClientResponse, HTTPClientError> {
        await Task(executorPreference: clientLoop) { () -> Result<HTTPClientResponse, HTTPClientError> in
            do { return .success(try await client.get(Self.movedURL)) } catch let error as HTTPClientError {
                return .failure(error)
            } catch {
                preconditionFailure("HTTPClient threw \(error)")
            }
        }.value
    }

    /// A name resolved once, served on `first`; `first` stopped; then `afterStop` runs (it may
    /// take the old address) and the name moves to a new server; a second call on the same
    /// loop (same pool, same cached addresses) must reach the new server.
    func callAfterTheNameMoves(
        connectTimeout: Duration, afterStop: @Sendable (_ oldPort: Int) async throws -> Void
    ) async throws -> (Result<HTTPClientResponse, HTTPClientError>, MovingName, ClientTestServer) {
        let first = try await ClientTestServer.start(on: serverLoop, handler: Self.echoAndClose)
        let name = MovingName(first.listener.localAddress)
        let client = Self.client {
            $0.connectTimeout = connectTimeout
            $0.resolve = name.resolve
        }
        let before = try await getMovedURL(client).get()
        #expect(before.body == Array("/movies/1".utf8))
        await first.stop()
        try await afterStop(first.port)
        let second = try await ClientTestServer.start(on: serverLoop, handler: Self.echoAndClose)
        name.move(to: second.listener.localAddress)
        let result = await getMovedURL(client)
        await client.shutdown()
        await second.stop()
        return (result, name, second)
    }

    /// Regression (`podman stop/start movie-service`: the watchlist service's first call
    /// failed with `connectTimeout`): the pool connected to the address it had cached from
    /// before the restart, which no longer answered, and gave up.
    @Test func aNameWhoseOldAddressNeverAnswersIsResolvedAgain() async throws {
        let blackhole = Mutex<UnansweringListener?>(nil)
        let loop = serverLoop
        let (result, name, second) = try await callAfterTheNameMoves(connectTimeout: .milliseconds(300)) { oldPort in
            let listener = try await UnansweringListener.start(on: loop, port: oldPort)
            blackhole.withLock { $0 = listener }
        }
        #expect(try result.get().body == Array("/movies/1".utf8))
        #expect(name.lookups.load(ordering: .relaxed) == 2)
        #expect(second.accepts.load(ordering: .relaxed) == 1)
        await blackhole.withLock { $0 }?.stop()
    }

    /// The old address refuses (nothing listens there any more): resolved again at once.
    @Test func aNameWhoseOldAddressRefusesIsResolvedAgain() async throws {
        let (result, name, second) = try await callAfterTheNameMoves(connectTimeout: .seconds(1)) { _ in }
        #expect(try result.get().body == Array("/movies/1".utf8))
        #expect(name.lookups.load(ordering: .relaxed) == 2)
        #expect(second.accepts.load(ordering: .relaxed) == 1)
    }

    /// A server that is down where the name still points: one lookup more, then the
    /// connect's own error (no second attempt at the same address).
    @Test func aServerDownAtAnUnchangedAddressFailsAfterOneMoreLookup() async throws {
        let first = try await ClientTestServer.start(on: serverLoop, handler: Self.echoAndClose)
        let name = MovingName(first.listener.localAddress)
        let client = Self.client { $0.resolve = name.resolve }
        _ = try await getMovedURL(client).get()
        await first.stop()
        guard case .failure(let failure) = await getMovedURL(client) else {
            Issue.record("a call to a stopped server succeeded")
            return
        }
        #expect(failure.code == .connectFailed && !failure.requestMayHaveBeenSent)
        #expect(name.lookups.load(ordering: .relaxed) == 2)
        await client.shutdown()
    }

    /// A lookup that hangs (a DNS server dropping queries: the resolver retries for 5 s a
    /// try) ends the call at the connect timeout, not when the lookup gives up.
    @Test func aHangingLookupEndsAtTheConnectTimeout() async throws {
        let released = Atomic<Bool>(false)
        let client = Self.client {
            $0.connectTimeout = .milliseconds(200)
            $0.resolve = { _, _ in
                // Holds its pool thread until the test lets go (10 s at most).
                for _ in 0..<10_000 where !released.load(ordering: .relaxed) { usleep(1000) }
                throw IOError(.addressResolution, operation: "getaddrinfo(movie-service.test)", errno: 0)
            }
        }
        let started = monotonicNanoseconds()
        let result = await getMovedURL(client)
        let elapsed = monotonicNanoseconds() - started
        released.store(true, ordering: .relaxed)
        guard case .failure(let failure) = result else {
            Issue.record("a call whose lookup hangs succeeded")
            return
        }
        #expect(failure.code == .connectTimeout && !failure.requestMayHaveBeenSent)
        // The configured 200 ms, not the lookup's 10 s; loose above for loaded CI machines.
        #expect(elapsed >= 180_000_000 && elapsed < 5_000_000_000)
        await client.shutdown()
    }

    /// Lookups queued behind hung ones (the lookup pool has 4 threads) whose callers have
    /// stopped waiting are never started: once the resolver answers again, the threads go
    /// to lookups someone waits for, not to a backlog of abandoned ones.
    @Test func lookupsWhoseCallersGaveUpAreNotStarted() async throws {
        let released = Atomic<Bool>(false)
        let lookups = Atomic<Int>(0)
        let client = Self.client {
            $0.connectTimeout = .milliseconds(200)
            $0.resolve = { _, _ in
                lookups.add(1, ordering: .relaxed)
                // Holds its pool thread until the test lets go (10 s at most).
                for _ in 0..<10_000 where !released.load(ordering: .relaxed) { usleep(1000) }
                throw IOError(.addressResolution, operation: "getaddrinfo(movie-service.test)", errno: 0)
            }
        }
        // Twelve callers at once: four lookups take the pool's threads and hang, eight queue.
        let failures = await withTaskGroup(of: HTTPClientError.Code?.self) { group in
            for _ in 0..<12 {
                group.addTask { [self] in
                    if case .failure(let failure) = await getMovedURL(client) { failure.code } else { nil }
                }
            }
            return await group.reduce(into: [HTTPClientError.Code?]()) { $0.append($1) }
        }
        #expect(failures.allSatisfy { $0 == .connectTimeout })
        released.store(true, ordering: .relaxed)
        // Room for the queued eight to run, had they not been dropped.
        for _ in 0..<100 { usleep(5_000) }
        // At most the pool's four threads started one (fewer when another test holds a thread).
        #expect(lookups.load(ordering: .relaxed) <= 4)
        await client.shutdown()
    }
}
