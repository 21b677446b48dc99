import HTTP
import Reactor
import Synchronization
import Testing

@testable import LoadTestKit

/// The load generator's HTTP/2 client against our HTTP/2 server, in-process over loopback:
/// virtual users share one connection per loop as streams, and the figures it reports are
/// what the server answered.
@Suite("loadtest HTTP/2 target", .serialized, .timeLimit(.minutes(3)))
final class HTTP2TargetTests {
    static let group = try! EventLoopGroup(loopCount: 1)
    let server: HTTPServer
    let seen = Seen()

    /// Distinct client ports the server saw, and the HTTP versions of the requests.
    final class Seen: Sendable {
        let state = Mutex<(ports: Set<Int>, versions: Set<String>)>(([], []))
    }

    /// How many virtual users of a run have joined the shared connection.
    final class Joined: Sendable {
        let count = Mutex(0)
    }

    init() async throws {
        var router = Router()
        let seen = seen
        router.get("/api/movies/{id}") { request in
            seen.state.withLock {
                $0.ports.insert(request.origin.remoteAddress?.port ?? -1)
                $0.versions.insert("\(request.head.version)")
            }
            var response = HTTPServerResponse.json(.ok, Array(#"{"id":1}"#.utf8))
            response.headers.add(name: "X-Cache", value: "HIT")
            return response
        }
        router.post("/echo-length") { request in
            let body = try await request.body.collect(upTo: 1 << 20)
            return .json(.ok, Array(#"{"length":\#(body.count)}"#.utf8))
        }
        router.get("/slow") { request in
            try await request.origin.loop.sleep(for: .milliseconds(1500))
            return .json(.ok, Array("{}".utf8))
        }
        var configuration = HTTPServerConfiguration(port: 0)
        var http2 = HTTP2ServerConfiguration()
        // Fewer streams than virtual users: the client must wait for a free one.
        http2.maxConcurrentStreams = 4
        configuration.http2 = http2
        server = HTTPServer(configuration: configuration, group: Self.group, responder: router)
        try await server.start()
        let server = server
        Task { await server.run() }
    }

    deinit { server.shutdown() }

    private func target(timeout: Duration = .seconds(5)) throws -> HTTP2Target {
        HTTP2Target(
            url: try TargetURL("http://127.0.0.1:\(server.localPort)"), transport: Transports.plain, timeout: timeout)
    }

    /// Runs `users` virtual users on the group's loop, each sending `request` `count` times.
    private func run(
        _ target: HTTP2Target, users: Int, count: Int, _ request: LoadRequest
    ) async -> [LoadResult] {
        let loop = Self.group.loops[0]
        // Every user joins the shared connection before any sends: the last user to leave
        // closes it, and on a loaded machine the first could otherwise finish and close it
        // before a late one joins (which would then open a second connection).
        let joined = Joined()
        return await withTaskGroup(of: [LoadResult].self) { group in
            for _ in 0..<users {
                group.addTask(executorPreference: loop) {
                    let executor = target.makeExecutor(on: loop)
                    defer { executor.close() }
                    joined.count.withLock { $0 += 1 }
                    while joined.count.withLock({ $0 }) < users { try? await loop.sleep(for: .milliseconds(1)) }
                    var results: [LoadResult] = []
                    for _ in 0..<count { results.append(await executor.send(request)) }
                    return results
                }
            }
            var all: [LoadResult] = []
            for await results in group { all += results }
            return all
        }
    }

    @Test func virtualUsersShareOneConnectionAsStreams() async throws {
        let results = await run(try target(), users: 20, count: 10, LoadRequest(method: .GET, path: "/api/movies/1"))
        #expect(results.count == 200)
        #expect(results.allSatisfy { $0.status == 200 && $0.error == nil && $0.cache == .hit && $0.bytes == 8 })
        let observed = seen.state.withLock { $0 }
        #expect(observed.ports.count == 1, "one connection for one loop: \(observed.ports)")
        #expect(observed.versions == ["HTTP/2.0"])
    }

    /// A body larger than the server's initial stream window (65,535 bytes): the client must
    /// wait for WINDOW_UPDATE frames, which it reads itself when nobody else is reading.
    @Test func aBodyLargerThanTheWindowIsSentAsWindowsOpen() async throws {
        let body = [UInt8](repeating: 0x61, count: 200_000)
        let results = await run(
            try target(), users: 3, count: 2,
            LoadRequest(method: .POST, path: "/echo-length", body: body, collectBody: true))
        #expect(results.count == 6)
        for result in results {
            #expect(result.status == 200 && String(decoding: result.body, as: UTF8.self) == #"{"length":200000}"#)
        }
    }

    /// A response slower than the timeout counts as a timeout, its stream is cancelled, and
    /// the connection keeps serving the other users.
    @Test func aSlowResponseTimesOutAndTheConnectionGoesOn() async throws {
        let target = try target(timeout: .milliseconds(500))
        let loop = Self.group.loops[0]
        let (slow, fast) = await withTaskGroup(of: (LoadResult?, [LoadResult]).self) { group in
            group.addTask(executorPreference: loop) {
                let executor = target.makeExecutor(on: loop)
                defer { executor.close() }
                return (await executor.send(LoadRequest(method: .GET, path: "/slow")), [])
            }
            group.addTask(executorPreference: loop) {
                let executor = target.makeExecutor(on: loop)
                defer { executor.close() }
                var results: [LoadResult] = []
                for _ in 0..<20 { results.append(await executor.send(LoadRequest(method: .GET, path: "/api/movies/1"))) }
                return (nil, results)
            }
            var slow: LoadResult?
            var fast: [LoadResult] = []
            for await (one, many) in group {
                if let one { slow = one }
                fast += many
            }
            return (slow, fast)
        }
        #expect(slow?.error == .timeout)
        #expect(fast.count == 20 && fast.allSatisfy { $0.status == 200 })
    }
}
