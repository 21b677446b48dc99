/// An incremental, zero-copy, strict HTTP/1.1 request parser (RFC 9112).
///
/// Feed it the unread bytes of a connection; it reports a head, body slices and the end of
/// each request, and is then ready for the next pipelined one. Only the head's strings are
/// allocated. One parser per connection; it is a value, so it belongs to whoever owns the
/// connection (the loop thread).
///
/// ```swift
/// loop: while true {
///     switch parser.next(unread) {
///     case .needMore: break loop
///     case .head(let head, let consumed): ...
///     case .body(let start, let count, let consumed): ...
///     case .end(let consumed, let trailers): ...
///     case .invalid(let error): respond(error.status); close()
///     }
///     advance(by: event.consumed)
/// }
/// ```
public struct HTTPRequestParser: Sendable {
    private enum State: Sendable {
        case head(HTTPHeadScanner)
        case body(HTTPBodyDecoder)
        case failed(HTTPParseError)
    }

    public let limits: HTTPParserLimits
    private var state: State
    /// How the body of the request whose head was last returned is delimited.
    public private(set) var bodyKind: HTTPBodyKind = .none

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
        state = .head(HTTPHeadScanner(limits: limits, startLineTooLong: .requestLineTooLong))
    }

    /// Forgets any partial request and any error, ready for a new request at the next byte.
    public mutating func reset() {
        state = .head(HTTPHeadScanner(limits: limits, startLineTooLong: .requestLineTooLong))
        bodyKind = .none
    }

    /// Parses as far as `bytes` allow and reports one event.
    ///
    /// - Parameter bytes: the connection's unread bytes; those examined by the previous call
    ///   and not consumed must come first again.
    /// - Returns: the next event; after `.invalid` the same error until `reset()`.
    public mutating func next(_ bytes: UnsafeRawBufferPointer) -> HTTPParseEvent<HTTPRequestHead> {
        switch state {
        case .head(var scanner):
            switch scanner.scan(bytes) {
            case .needMore:
                state = .head(scanner)
                return .needMore
            case .invalid(let error):
                return fail(error)
            case .complete(let layout):
                do throws(HTTPParseError) {
                    let head = try parseHead(bytes, layout: layout)
                    return .head(head, consumed: layout.end)
                } catch {
                    return fail(error)
                }
            }
        case .body(var decoder):
            let event = decoder.next(bytes)
            switch event {
            case .needMore: state = .body(decoder); return .needMore
            case .body(let start, let count, let consumed):
                state = .body(decoder)
                return .body(start: start, count: count, consumed: consumed)
            case .end(let consumed, let trailers):
                state = .head(HTTPHeadScanner(limits: limits, startLineTooLong: .requestLineTooLong))
                return .end(consumed: consumed, trailers: trailers)
            case .invalid(let error):
                return fail(error)
            }
        case .failed(let error):
            return .invalid(error)
        }
    }

    private mutating func fail(_ error: HTTPParseError) -> HTTPParseEvent<HTTPRequestHead> {
        state = .failed(error)
        return .invalid(error)
    }

    /// The second pass over a complete head; sets up the body decoder.
    private mutating func parseHead(
        _ bytes: UnsafeRawBufferPointer, layout: HTTPHeadScanner.Layout
    ) throws(HTTPParseError) -> HTTPRequestHead {
        let (method, target, version) = try HTTPStartLine.parseRequestLine(bytes, layout.startLine)
        let (headers, framing) = try HTTPFieldSection.parse(bytes, layout: layout, maxCount: limits.maxHeaderCount)
        if framing.hostCount > 1 { throw .code(.multipleHosts) }
        if framing.hostCount == 0 && version >= .http1_1 { throw .code(.missingHost) }
        let kind = try HTTPMessageFraming.requestBody(framing, version: version, limits: limits)
        bodyKind = kind
        state = .body(HTTPBodyDecoder(kind: kind, limits: limits))
        return HTTPRequestHead(method: method, target: target, version: version, headers: headers)
    }
}
