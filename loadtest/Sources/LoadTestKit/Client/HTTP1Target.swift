import HTTP
import Reactor

/// The built-in ``LoadTarget``: HTTP/1.1 over one keep-alive connection per virtual user,
/// made with our own sockets, parser and serializer.
///
/// Written for the load generator before the shared HTTP client existed; it stays small on
/// purpose (no pool, no pipelining: a virtual user has one request in flight, like wrk's
/// connections), so that what it measures is the server.
public struct HTTP1Target: LoadTarget {
    public let url: TargetURL
    public let transport: TransportFactory
    /// How long a connect, and then a whole response, may take before it counts as a timeout.
    public let timeout: Duration
    /// Header fields sent with every request (authorization, for instance).
    public let extraHeaders: HTTPHeaders

    public init(
        url: TargetURL, transport: @escaping TransportFactory, timeout: Duration = .seconds(5), extraHeaders: HTTPHeaders = [:]) {
        self.url = url
        self.transport = transport
        self.timeout = timeout
        self.extraHeaders = extraHeaders
    }

    public func makeExecutor(on loop: EventLoop) -> any RequestExecutor {
        HTTP1Connection(target: self, loop: loop)
    }
}

/// One keep-alive HTTP/1.1 connection; reconnects when the server closed it.
///
/// Loop-bound: every call on the loop it was made for (the socket's rule).
final class HTTP1Connection: RequestExecutor {
    private let target: HTTP1Target
    private let loop: EventLoop
    private var stream: (any ByteStream)?
    private var parser = HTTPResponseParser()
    /// Read buffer: bytes `[start, end)` are received and not yet consumed by the parser.
    /// Manually allocated because a socket read suspends, and no Swift array's storage may
    /// be borrowed across a suspension; freed in deinit.
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    /// Request bytes, reused between requests to spare an allocation each.
    private var out: [UInt8] = []

    init(target: HTTP1Target, loop: EventLoop) {
        self.target = target
        self.loop = loop
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        out.reserveCapacity(1024)
    }

    deinit {
        stream?.close()
        buffer.deallocate()
    }

    func close() {
        stream?.close()
        stream = nil
    }

    func send(_ request: LoadRequest) async -> LoadResult {
        // A kept-alive connection may have been closed by the server while idle; a request
        // that got no byte of answer on such a connection is retried once on a new one.
        let reused = stream != nil
        let result = await attempt(request)
        if reused, result.status == -1 {
            return await attempt(request)
        }
        return result.status == -1 ? .failed(.reset) : result
    }

    /// One try; `status == -1` marks "connection lost before any response byte".
    private func attempt(_ request: LoadRequest) async -> LoadResult {
        let stream: any ByteStream
        if let existing = self.stream {
            stream = existing
        } else {
            do {
                stream = try await target.transport(target.url, loop, target.timeout)
            } catch {
                return .failed(Self.classify(error, connecting: true))
            }
            self.stream = stream
            parser.reset()
            start = 0
            end = 0
        }
        serialize(request)
        let deadline = monotonicNanoseconds() &+ target.timeout.nanoseconds
        stream.writeDeadline = deadline
        stream.readDeadline = deadline
        do {
            try await stream.write(out[...])
        } catch {
            close()
            let kind = Self.classify(error, connecting: false)
            return kind == .reset ? LoadResult(status: -1) : .failed(kind)
        }
        parser.expectResponse(toRequestMethod: request.method)
        return await readResponse(on: stream, collect: request.collectBody)
    }

    private func serialize(_ request: LoadRequest) {
        out.removeAll(keepingCapacity: true)
        var head = HTTPRequestHead(method: request.method, target: target.url.basePath + request.path)
        head.headers.reserveCapacity(4 + request.headers.count + target.extraHeaders.count)
        head.headers.add(name: "Host", value: target.url.hostHeader)
        for field in target.extraHeaders { head.headers.add(name: field.name, value: field.value) }
        for field in request.headers { head.headers.add(name: field.name, value: field.value) }
        if !request.body.isEmpty || request.method == .POST || request.method == .PUT || request.method == .PATCH {
            head.headers.add(name: "Content-Length", value: String(request.body.count))
        }
        head.write(into: &out)
        out.append(contentsOf: request.body)
    }

    private func readResponse(on stream: any ByteStream, collect: Bool) async -> LoadResult {
        var result = LoadResult(status: 0)
        var keepAlive = true
        var sawByte = end > start
        while true {
            let event = parser.next(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
            start += event.consumed
            switch event {
            case .head(let head, _):
                if head.status.isInformational && head.status.code != 101 { continue }
                result.status = head.status.code
                result.cache = CacheOutcome(headerValue: head.headers["x-cache"])
                keepAlive = head.keepAlive && parser.bodyKind != .untilClose
                if collect { result.head = head }
            case .body(let bodyStart, let count, _):
                result.bytes += count
                if collect {
                    // bodyStart is relative to the slice just passed, which began at the old start.
                    let base = start - event.consumed + bodyStart
                    result.body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[base..<base + count]))
                }
            case .end:
                if !keepAlive { close() }
                if start == end {
                    start = 0
                    end = 0
                }
                return result
            case .invalid:
                close()
                return .failed(.protocol)
            case .needMore:
                if end == buffer.count {
                    if start == 0 {
                        // A head larger than the whole buffer: the parser's limits refuse it first.
                        close()
                        return .failed(.protocol)
                    }
                    // Move the unconsumed tail to the front; the parser re-examines it. (Our
                    // own non-empty allocation, so the base address exists.)
                    buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start)
                    end -= start
                    start = 0
                }
                let count: Int
                do {
                    count = try await stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
                } catch {
                    close()
                    let kind = Self.classify(error, connecting: false)
                    return kind == .reset && !sawByte ? LoadResult(status: -1) : .failed(kind)
                }
                if count == 0 {
                    let closed = parser.connectionClosed()
                    close()
                    if case .end = closed { return result }
                    return sawByte ? .failed(.reset) : LoadResult(status: -1)
                }
                sawByte = true
                end += count
            }
        }
    }

    static func classify(_ error: any Error, connecting: Bool) -> LoadErrorKind {
        if let io = error as? IOError {
            if io.code == .timedOut { return .timeout }
            if connecting { return .connect }
            if io.isConnectionLost || io.code == .closed { return .reset }
            return .other
        }
        if connecting { return .connect }
        let name = String(reflecting: type(of: error))
        return name.contains("TLS") ? .tls : .other
    }
}
