import HTTP
import Reactor
import Synchronization

/// A small scripted HTTP/1.1 server for the client tests (the real server is written
/// elsewhere): it parses requests with `HTTPRequestParser` and answers what the test's
/// handler says, counting accepted connections and requests.
final class ClientTestServer: Sendable {
    /// What to do with one request.
    enum Reply: Sendable {
        /// Write these bytes (a whole response, or anything else); then close if asked.
        case raw([UInt8], thenClose: Bool)
        /// A 200 with `Content-Length: total`, written in `chunkSize` pieces from one buffer.
        case stream(total: Int, chunkSize: Int)
        /// Never answer; keep reading (the client must time out).
        case silence
        /// Close the connection without answering.
        case close
    }

    /// Request head, body, and the request's index on its connection (0 = first).
    typealias Handler = @Sendable (HTTPRequestHead, [UInt8], Int) -> Reply

    let loop: EventLoop
    let listener: TCPListener
    let handler: Handler
    let accepts = Atomic<Int>(0)
    let requests = Atomic<Int>(0)
    /// Connections whose serving ended (the client closed, or the handler said so).
    let finished = Atomic<Int>(0)

    var port: Int { listener.localAddress.port }
    var origin: HTTPOrigin { HTTPOrigin(host: "127.0.0.1", port: port) }
    func url(_ target: String) -> String { "http://127.0.0.1:\(port)\(target)" }

    private init(loop: EventLoop, listener: TCPListener, handler: @escaping Handler) {
        self.loop = loop
        self.listener = listener
        self.handler = handler
    }

    static func start(on loop: EventLoop, handler: @escaping Handler) async throws -> ClientTestServer {
        let listener = try await Task(executorPreference: loop) {
            try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop, reusePort: false)
        }.value
        let server = ClientTestServer(loop: loop, listener: listener, handler: handler)
        Task(executorPreference: loop) {
            while let socket = try? await listener.accept() {
                server.accepts.add(1, ordering: .relaxed)
                Task(executorPreference: loop) {
                    await server.serve(socket)
                    server.finished.add(1, ordering: .relaxed)
                }
            }
        }
        return server
    }

    func stop() async {
        await Task(executorPreference: loop) { self.listener.close() }.value
    }

    /// A response with `Content-Length`.
    static func response(
        status: Int = 200, body: String, headers: [(String, String)] = [], version: String = "HTTP/1.1"
    ) -> [UInt8] {
        var text = "\(version) \(status) X\r\nContent-Length: \(body.utf8.count)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n" + body).utf8)
    }

    private func serve(_ socket: TCPSocket) async {
        defer { socket.close() }
        var parser = HTTPRequestParser(limits: HTTPParserLimits(maxBodySize: nil))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { buffer.deallocate() }
        var start = 0
        var end = 0
        var head: HTTPRequestHead?
        var body: [UInt8] = []
        var index = 0
        while true {
            let event = parser.next(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
            switch event {
            case .head(let parsed, let consumed):
                head = parsed
                body = []
                start += consumed
                continue
            case .body(let bodyStart, let count, let consumed):
                body.append(contentsOf: buffer[(start + bodyStart)..<(start + bodyStart + count)])
                start += consumed
                continue
            case .end(let consumed, _):
                start += consumed
                requests.add(1, ordering: .relaxed)
                guard let request = head else { return }
                let reply = handler(request, body, index)
                index += 1
                switch reply {
                case .raw(let bytes, let thenClose):
                    do { try await socket.write(bytes) } catch { return }
                    if thenClose { return }
                case .stream(let total, let chunkSize):
                    guard (try? await socket.write(Array("HTTP/1.1 200 OK\r\nContent-Length: \(total)\r\n\r\n".utf8))) != nil
                    else { return }
                    let chunk = [UInt8](repeating: 0x61, count: chunkSize)
                    var sent = 0
                    while sent < total {
                        let count = min(chunkSize, total - sent)
                        do { try await socket.write(chunk[0..<count]) } catch { return }
                        sent += count
                    }
                case .silence:
                    break
                case .close:
                    return
                }
                continue
            case .needMore:
                break
            case .invalid:
                return
            }
            if start == end {
                start = 0
                end = 0
            } else if end == buffer.count {
                let pending = end - start
                buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending)
                start = 0
                end = pending
            }
            guard let count = try? await socket.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...])),
                count > 0
            else { return }
            end += count
        }
    }
}

/// A listener that never accepts, its queue filled by connections of its own: the kernel
/// drops further SYNs, so a connect to it can only time out, as one to a stopped
/// container's address does (loopback only, no unroutable address needed).
final class UnansweringListener: Sendable {
    let loop: EventLoop
    let listener: TCPListener
    let fillers: [TCPSocket]

    var port: Int { listener.localAddress.port }

    private init(loop: EventLoop, listener: TCPListener, fillers: [TCPSocket]) {
        self.loop = loop
        self.listener = listener
        self.fillers = fillers
    }

    /// - Parameter port: the port to take (one a stopped server just left), or 0 for any.
    static func start(on loop: EventLoop, port: Int = 0) async throws -> UnansweringListener {
        try await Task(executorPreference: loop) { () -> UnansweringListener in
            let listener = try TCPListener(
                address: SocketAddress(numericHost: "127.0.0.1", port: port)!, on: loop, backlog: 0, reusePort: false)
            var fillers: [TCPSocket] = []
            for _ in 0..<4 {
                guard let socket = try? await TCPSocket.connect(to: listener.localAddress, on: loop, timeout: .milliseconds(100))
                else { break }
                fillers.append(socket)
            }
            return UnansweringListener(loop: loop, listener: listener, fillers: fillers)
        }.value
    }

    func stop() async {
        await Task(executorPreference: loop) {
            for socket in self.fillers { socket.close() }
            self.listener.close()
        }.value
    }
}
