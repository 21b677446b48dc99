import Logging
import MarqueeTesting
import Reactor
import Synchronization
import Telemetry
import Testing

@testable import HTTP

#if canImport(Glibc)
import Glibc
#endif

/// How a server connection ends, and what a response may not get wrong on the way: the
/// lingering close after an error, a drain that lets an answer leave whole, a streamed body
/// held to its `Content-Length` and given a deadline per write, no framing on 204/304, and a
/// handler's own failure answered 500.
@Suite("HTTP server: ending connections", .serialized, .timeLimit(.minutes(3)))
struct ServerEndingTests {
    /// A server on a free port with `routes`, its error log captured.
    final class Server: Sendable {
        let server: HTTPServer
        let run: Task<Void, Never>
        private let errors: LogCapture
        var port: Int { server.localPort }
        var loggedErrors: [String] { errors.captured }

        init(
            group: EventLoopGroup? = nil, configure: (inout HTTPServerConfiguration) -> Void = { _ in },
            routes: (inout Router) -> Void
        ) async throws {
            var router = Router()
            routes(&router)
            var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
            configure(&configuration)
            let errors = LogCapture()
            self.errors = errors
            configuration.logger = Logger(service: "server-ending-tests", sink: errors.sink)
            let server = HTTPServer(
                configuration: configuration, group: try group ?? EventLoopGroupHolder.shared(), responder: router)
            try await server.start()
            self.server = server
            run = Task { await server.run() }
        }

        func stop() async {
            server.shutdown()
            await run.value
        }
    }

    final class HandledCount: Sendable {
        let value = Atomic<Int>(0)
    }

    /// Connects a raw socket on loop 0 and runs `body` there.
    static func withConnection<T: Sendable>(
        port: Int, receiveBuffer: Int32? = nil, _ body: @Sendable @escaping (TCPSocket) async throws -> T
    ) async throws -> T {
        let loop = try EventLoopGroupHolder.shared().loops[0]
        return try await withTaskExecutorPreference(loop) { @concurrent in
            let socket = try await TCPSocket.connect(
                to: SocketAddress(numericHost: "127.0.0.1", port: port)!, on: loop, timeout: .seconds(2))
            defer { socket.close() }
            if var size = receiveBuffer {
                setsockopt(socket.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            return try await body(socket)
        }
    }

    /// Reads until end of stream or `timeout`; whether the stream ended (rather than timed out).
    static func readAll(_ socket: TCPSocket, timeout: Duration = .seconds(5)) async -> (bytes: [UInt8], ended: Bool) {
        socket.readDeadline = monotonicNanoseconds() &+ timeout.nanoseconds
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { buffer.deallocate() }
        var bytes: [UInt8] = []
        while true {
            do {
                let count = try await socket.read(into: buffer)
                if count == 0 { return (bytes, true) }
                bytes.append(contentsOf: buffer[0..<count])
            } catch {
                return (bytes, (error as? IOError)?.isConnectionLost ?? false)
            }
        }
    }

    // MARK: Lingering close

    /// The client sends its whole (refused) body before it reads: with an immediate close,
    /// the server's kernel resets the connection and the client's write fails before it
    /// ever reads the 413.
    @Test func errorAnswerSurvivesABodyStillBeingSent() async throws {
        let server = try await Server(configure: { $0.parserLimits.maxBodySize = 1024 }) { router in
            router.post("/upload") { _ in HTTPServerResponse(status: .ok) }
        }
        let size = 32 << 20
        let outcome = try await Self.withConnection(port: server.port) { socket -> String in
            let head = "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: \(size)\r\n\r\n"
            try await socket.write(Array(head.utf8))
            socket.writeDeadline = monotonicNanoseconds() &+ 20_000_000_000
            let piece = [UInt8](repeating: 0x61, count: 1 << 20)
            do {
                for _ in 0..<(size >> 20) { try await socket.write(piece) }
            } catch {
                return "write failed: \(error)"
            }
            let (bytes, _) = await Self.readAll(socket)
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(outcome.hasPrefix("HTTP/1.1 413"), "\(outcome.prefix(200))")
        await server.stop()
    }

    // MARK: Drain

    /// A response still on its way out (handed to the end-of-round send, not yet in the
    /// kernel) when the drain comes: the connection is idle, and the drain must let the
    /// answer leave whole before it closes, not close over it. A scripted stream plays the
    /// socket, so that "not yet sent" is certain rather than a matter of buffer sizes.
    @Test func drainLetsAnAnswerStillBeingSentLeaveWhole() async throws {
        let loop = try EventLoopGroupHolder.shared().loops[0]
        let body = [UInt8](repeating: 0x62, count: 60_000)
        var router = Router()
        router.get("/big") { _ in HTTPServerResponse(status: .ok, body: .bytes(body)) }
        let stream = ScriptedStream(loop: loop, request: Array("GET /big HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        let responder = router
        let sent = await Task(executorPreference: loop) { () -> [UInt8] in
            let connection = HTTPServerConnection(
                stream: stream, configuration: HTTPServerConfiguration(port: 0), responder: responder,
                dateCache: HTTPDateCache())
            async let served = connection.run()
            // Once the answer waits in the end-of-round send and the connection is idle: drain.
            while !(connection.isIdle && stream.pendingSend > 0) { await Task.yield() }
            connection.drain()
            _ = await served
            return stream.sent
        }.value
        let text = String(decoding: sent, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"))
        // The whole body, then the drain's 408 (no next request was read).
        let headEnd = try #require(Self.headLength(sent))
        #expect(sent.count > headEnd + body.count)
        #expect(sent[headEnd..<(headEnd + body.count)] == body[...], "sent \(sent.count) bytes")
        #expect(String(decoding: sent[(headEnd + body.count)...], as: UTF8.self).hasPrefix("HTTP/1.1 408"))
        #expect(stream.isClosed)
    }

    /// A keep-alive connection idle when the drain comes ends with a 408 and `Connection:
    /// close`, never a bare close: a client whose request crossed the close can tell that
    /// it was not read. A request sent as the drain begins is either answered (and was
    /// handled) or met by that 408 (and was not handled), never left without an answer.
    @Test func drainEndsAnIdleConnectionWithA408() async throws {
        for round in 0..<10 {
            let handled = HandledCount()
            let server = try await Server { router in
                router.get("/hello") { _ in .json(.ok, Array("{}".utf8)) }
                router.post("/count") { request in
                    _ = try await request.body.collect(upTo: 1024)
                    handled.value.add(1, ordering: .relaxed)
                    return .json(.ok, Array("{}".utf8))
                }
            }
            let sendsAsTheDrainBegins = round > 0
            let answer = try await Self.withConnection(port: server.port) { socket -> String in
                try await socket.write(Array("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
                let first = try await Self.readResponse(socket)
                #expect(first.hasPrefix("HTTP/1.1 200"))
                server.server.shutdown()
                if sendsAsTheDrainBegins {
                    let post = "POST /count HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"
                    try? await socket.write(Array(post.utf8))
                }
                return String(decoding: await Self.readAll(socket).bytes, as: UTF8.self)
            }
            await server.run.value
            if answer.hasPrefix("HTTP/1.1 200") {
                #expect(sendsAsTheDrainBegins && handled.value.load(ordering: .relaxed) == 1, "\(answer)")
            } else {
                #expect(answer.hasPrefix("HTTP/1.1 408"), "round \(round): \(answer)")
                #expect(handled.value.load(ordering: .relaxed) == 0, "a request met by the 408 was not handled")
            }
            #expect(answer.contains("Connection: close"), "\(answer)")
        }
    }

    /// Reads one response whose body is `Content-Length` long.
    static func readResponse(_ socket: TCPSocket) async throws -> String {
        socket.readDeadline = monotonicNanoseconds() &+ 5_000_000_000
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        var bytes: [UInt8] = []
        while true {
            if let headLength = headLength(bytes) {
                let head = String(decoding: bytes[..<headLength], as: UTF8.self).lowercased()
                let field = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                let length = field.flatMap { Int($0.dropFirst("content-length:".count).filter { $0 != " " }) } ?? 0
                if bytes.count >= headLength + length { return String(decoding: bytes, as: UTF8.self) }
            }
            let count = try await socket.read(into: buffer)
            if count == 0 { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(contentsOf: buffer[0..<count])
        }
    }

    /// The length of the head at the start of `bytes` (its blank line included), once whole.
    static func headLength(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for end in 4...bytes.count where bytes[(end - 4)..<end].elementsEqual([13, 10, 13, 10]) { return end }
        return nil
    }

    static let oneLoop = try! EventLoopGroup(loopCount: 1, affinity: .none)

    /// Connections the kernel has queued at the listener (their requests sent) when the drain
    /// begins: closing the listener would reset them; they are accepted and answered.
    @Test func drainAnswersConnectionsQueuedAtTheListener() async throws {
        let loop = Self.oneLoop.loops[0]
        let server = try await Server(group: Self.oneLoop) { router in
            router.get("/hello") { _ in .json(.ok, Array("{}".utf8)) }
        }
        let port = server.port
        try await Task.sleep(for: .milliseconds(100))  // the accept loop waits for readiness
        // On the server's only loop, in one job: the accept loop cannot run in between, so
        // these connections are still in the kernel's queue when the drain begins.
        let (fds, onLoop) = await Task(executorPreference: loop) { () -> ([Int32], Bool) in
            var fds: [Int32] = []
            for _ in 0..<4 {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                let address = SocketAddress(numericHost: "127.0.0.1", port: port)!
                guard address.withSockAddr({ connect(fd, $0, $1) }) == 0 else { continue }
                let request = Array("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
                _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                fds.append(fd)
            }
            server.server.shutdown()
            return (fds, loop.inLoop)
        }.value
        #expect(onLoop)
        #expect(fds.count == 4)
        var answers: [String] = []
        for fd in fds {
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                bytes += buffer[0..<count]
            }
            close(fd)
            answers.append(String(decoding: bytes, as: UTF8.self))
        }
        for answer in answers {
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(answer.contains("Connection: close"), "\(answer)")
        }
        await server.run.value
    }

    /// An h2c server whose header and drain timeouts (ten minutes) outlast the suite's limit:
    /// a test ends in time only if the drain itself closes the connections it leaves open.
    static func h2cServerWithTenMinuteTimeouts() async throws -> Server {
        try await Server(configure: { configuration in
            configuration.http2 = HTTP2ServerConfiguration()
            configuration.headerReadTimeout = .seconds(600)
            configuration.drainTimeout = .seconds(600)
        }) { router in
            router.get("/hello") { _ in .json(.ok, Array("{}".utf8)) }
        }
    }

    /// Connections whose protocol is not known yet (HTTP/2 on: the h2c preface check) are
    /// neither HTTP/1.1 nor HTTP/2 connections, yet a drain must reach them: a client that
    /// connects and sends nothing, or only the start of the preface, is closed at once
    /// instead of holding the shutdown for the header timeout (ten minutes here, as is the
    /// drain timeout: only the drain reaching them ends the run within the bound below).
    @Test func drainClosesConnectionsStillCheckingForTheHTTP2Preface() async throws {
        let server = try await Self.h2cServerWithTenMinuteTimeouts()
        let loop = try EventLoopGroupHolder.shared().loops[0]
        let ended = try await withTaskExecutorPreference(loop) { @concurrent in
            let address = SocketAddress(numericHost: "127.0.0.1", port: server.port)!
            let silent = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
            defer { silent.close() }
            let partial = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
            defer { partial.close() }
            try await partial.write(Array("PRI * HTTP/2.0\r\n".utf8))
            // Both accepted before the shutdown: each waits for its first bytes, is in the
            // preface check, or is still on its way to its loop; the drain must close each.
            let deadline = monotonicNanoseconds() &+ 30_000_000_000
            while server.server.openConnections < 2, monotonicNanoseconds() < deadline {
                try await loop.sleep(for: .milliseconds(10))
            }
            #expect(server.server.openConnections == 2)
            server.server.shutdown()
            // Read until each is closed, or for much longer than a drain that reaches them takes.
            let silentEnded = await Self.readAll(silent, timeout: .seconds(30)).ended
            return [silentEnded, await Self.readAll(partial, timeout: .seconds(30)).ended]
        }
        #expect(ended == [true, true], "each connection is closed by the drain")
        // Otherwise the run would end only after the header timeout.
        guard ended == [true, true] else { return }
        await server.run.value
    }

    /// A preface check that a shutdown closed does not read the descriptor number it held: the
    /// number is free again and the next descriptor the process makes takes it. Here a task
    /// keeps making socket pairs (empty, so a peek there finds nothing to read) while the
    /// shutdown closes the check's connection; a check that peeked at the number again would
    /// find nothing, wait on its closed socket until the header timeout, and hold the run.
    @Test func shutdownEndsAPrefaceCheckWhoseDescriptorNumberIsReused() async throws {
        let server = try await Self.h2cServerWithTenMinuteTimeouts()
        let loop = try EventLoopGroupHolder.shared().loops[0]
        final class Flag: Sendable { let isSet = Atomic<Bool>(true) }
        let churning = Flag()
        // A plain loop with no await: it holds one thread of the global pool, briefly.
        let churn = Task.detached {
            var open: [(Int32, Int32)] = []
            while churning.isSet.load(ordering: .relaxed) {
                if open.count == 32 {
                    let (a, b) = open.removeFirst()
                    close(a)
                    close(b)
                }
                var pair: [Int32] = [0, 0]
                guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else { break }
                open.append((pair[0], pair[1]))
            }
            for (a, b) in open {
                close(a)
                close(b)
            }
        }
        let ended = try await withTaskExecutorPreference(loop) { @concurrent in
            let address = SocketAddress(numericHost: "127.0.0.1", port: server.port)!
            let partial = try await TCPSocket.connect(to: address, on: loop, timeout: .seconds(2))
            defer { partial.close() }
            try await partial.write(Array("PRI * HTTP/2.0\r\n".utf8))
            let deadline = monotonicNanoseconds() &+ 30_000_000_000
            while server.server.openConnections < 1, monotonicNanoseconds() < deadline {
                try await loop.sleep(for: .milliseconds(10))
            }
            // Time for its bytes to reach the check, which then polls for the rest.
            try await loop.sleep(for: .milliseconds(200))
            server.server.shutdown()
            return await Self.readAll(partial, timeout: .seconds(30)).ended
        }
        #expect(ended, "the drain closes the connection in its preface check")
        let deadline = monotonicNanoseconds() &+ 30_000_000_000
        while server.server.openConnections > 0, monotonicNanoseconds() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        churning.isSet.store(false, ordering: .relaxed)
        await churn.value
        #expect(server.server.openConnections == 0, "the check ended with its connection")
        // Otherwise the run would end only after the header timeout.
        guard server.server.openConnections == 0 else { return }
        await server.run.value
    }

    // MARK: Streamed bodies

    @Test func streamedBodyShorterThanItsLengthClosesTheConnection() async throws {
        let server = try await Server { router in
            router.get("/short") { _ in
                HTTPServerResponse(status: .ok, body: .stream(length: 10) { writer in try await writer.write(Array("12345".utf8)) })
            }
            router.get("/ok") { _ in .json(.ok, Array("{}".utf8)) }
        }
        let (bytes, ended) = try await Self.withConnection(port: server.port) { socket in
            try await socket.write(Array("GET /short HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
            return await Self.readAll(socket, timeout: .seconds(3))
        }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(ended, "the connection must close after a body that fell short")
        #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "no second response on a desynchronised connection: \(text)")
        #expect(text.hasSuffix("\r\n\r\n12345"))
        #expect(server.loggedErrors.contains { $0.contains("shorter than its Content-Length") }, "\(server.loggedErrors)")
        await server.stop()
    }

    @Test func streamedBodyLongerThanItsLengthIsCutAndTheConnectionClosed() async throws {
        let server = try await Server { router in
            router.get("/long") { _ in
                HTTPServerResponse(status: .ok, body: .stream(length: 5) { writer in
                    try await writer.write(Array("123".utf8))
                    try await writer.write(Array("4567890".utf8))
                })
            }
        }
        let (bytes, ended) = try await Self.withConnection(port: server.port) { socket in
            try await socket.write(Array("GET /long HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
            return await Self.readAll(socket, timeout: .seconds(3))
        }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(ended)
        #expect(text.hasSuffix("\r\n\r\n123"), "nothing past the stated length: \(text)")
        #expect(server.loggedErrors.contains { $0.contains("longer than its Content-Length") }, "\(server.loggedErrors)")
        await server.stop()
    }

    @Test func noBodyFramingOn204And304() async throws {
        let server = try await Server { router in
            router.get("/no-content") { _ in
                HTTPServerResponse(status: .noContent, body: .stream(length: nil) { _ in })
            }
            router.get("/not-modified") { _ in
                HTTPServerResponse(status: .notModified, body: .stream(length: 42) { _ in })
            }
            router.get("/ok") { _ in .json(.ok, Array("{}".utf8)) }
        }
        let text = try await Self.withConnection(port: server.port) { socket -> String in
            let requests = "GET /no-content HTTP/1.1\r\nHost: a\r\n\r\nGET /not-modified HTTP/1.1\r\nHost: a\r\n\r\n"
                + "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            try await socket.write(Array(requests.utf8))
            return String(decoding: await Self.readAll(socket).bytes, as: UTF8.self)
        }
        let heads = text.components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(heads.count == 3, "\(text)")
        for head in heads.prefix(2) {
            #expect(!head.lowercased().contains("transfer-encoding"), "\(head)")
            #expect(!head.lowercased().contains("content-length"), "\(head)")
        }
        #expect(heads.last?.hasPrefix("200") == true)
        await server.stop()
    }

    /// A large download to a client that takes it steadily but slowly lasts longer than the
    /// write timeout; no single write waits that long, so it must go through. The timeout is
    /// seconds, not milliseconds: the client's loop is shared with tests running beside it,
    /// and a loaded machine can hold it back for a few hundred milliseconds between reads.
    @Test func slowSteadyDownloadIsNotCutByTheWriteTimeout() async throws {
        let size = 48 << 20
        let server = try await Server(configure: { $0.writeTimeout = .seconds(3) }) { router in
            router.get("/download") { _ in
                HTTPServerResponse(status: .ok, body: .stream(length: size) { writer in
                    let piece = [UInt8](repeating: 0x63, count: 64 << 10)
                    for _ in 0..<(size / piece.count) { try await writer.write(piece) }
                })
            }
        }
        let (received, started, finished) = try await Self.withConnection(port: server.port) { socket -> (Int, UInt64, UInt64) in
            try await socket.write(Array("GET /download HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8))
            let started = monotonicNanoseconds()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 1)
            defer { buffer.deallocate() }
            var total = 0
            while true {
                socket.readDeadline = monotonicNanoseconds() &+ 5_000_000_000
                let count = (try? await socket.read(into: buffer)) ?? 0
                if count == 0 { break }
                total += count
                try await socket.loop.sleep(for: .milliseconds(20))  // 12.5 MiB/s at most: 3.8 s or more
            }
            return (total, started, monotonicNanoseconds())
        }
        #expect(received > size, "received \(received) of \(size) body bytes and a head")
        #expect(finished - started > 3_000_000_000, "the download must outlast one write timeout to prove anything")
        await server.stop()
    }

    // MARK: Handler failures

    @Test func handlersOwnIOErrorIsAnswered500() async throws {
        let server = try await Server { router in
            router.get("/fails") { _ in throw IOError.system("read config", errno: ENOENT) }
        }
        let text = try await Self.withConnection(port: server.port) { socket -> String in
            try await socket.write(Array("GET /fails HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8))
            return String(decoding: await Self.readAll(socket).bytes, as: UTF8.self)
        }
        #expect(text.hasPrefix("HTTP/1.1 500"), "\(text)")
        #expect(server.loggedErrors.contains { $0.contains("read config") }, "\(server.loggedErrors)")
        await server.stop()
    }
}

/// A stream that plays a socket for one connection: it delivers `request`, then waits for
/// more until its reading is ended (end of stream) or it is closed. What goes to the
/// end-of-round send is held back until `finishSends` or a write, as a socket whose buffer
/// is full holds it; `close` drops what is still held back, as closing such a socket does.
/// Loop-bound.
final class ScriptedStream: ByteStream, @unchecked Sendable {
    let loop: EventLoop
    private var request: [UInt8]
    private var reader: UnsafeContinuation<Int, any Error>?
    private var held: [UInt8] = []
    private(set) var sent: [UInt8] = []
    private(set) var isClosed = false
    private var readingEnded = false
    var readDeadline: UInt64?
    var writeDeadline: UInt64?
    var remoteAddress: SocketAddress? { nil }
    var pendingSend: Int { held.count }

    init(loop: EventLoop, request: [UInt8]) {
        self.loop = loop
        self.request = request
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        if isClosed { throw IOError(.closed, operation: "read") }
        if !request.isEmpty {
            let count = min(buffer.count, request.count)
            buffer.copyBytes(from: request[0..<count])
            request.removeFirst(count)
            return count
        }
        if readingEnded { return 0 }
        return try await withUnsafeThrowingContinuation { reader = $0 }
    }

    func write(_ bytes: ArraySlice<UInt8>) async throws {
        if isClosed { throw IOError(.closed, operation: "write") }
        sent += held
        held = []
        sent += bytes
    }

    func sendAtEndOfRound(_ bytes: inout [UInt8]) -> Bool {
        guard !isClosed else { return false }
        held += bytes
        bytes.removeAll(keepingCapacity: true)
        return true
    }

    func finishSends() async throws {
        if isClosed { throw IOError(.closed, operation: "write") }
        sent += held
        held = []
    }

    func endReading() {
        readingEnded = true
        reader?.resume(returning: 0)
        reader = nil
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        held = []
        reader?.resume(throwing: IOError(.closed, operation: "read"))
        reader = nil
    }
}
