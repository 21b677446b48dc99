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
    private var machine: HTTPMessageMachine

    public var limits: HTTPParserLimits { machine.limits }
    /// How the body of the request whose head was last returned is delimited.
    public var bodyKind: HTTPBodyKind { machine.bodyKind }

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        machine = HTTPMessageMachine(limits: limits, startLineTooLong: .requestLineTooLong)
    }

    /// Forgets any partial request and any error, ready for a new request at the next byte.
    public mutating func reset() {
        machine.reset()
    }

    /// Parses as far as `bytes` allow and reports one event.
    ///
    /// - Parameter bytes: the connection's unread bytes; those examined by the previous call
    ///   and not consumed must come first again.
    /// - Returns: the next event; after `.invalid` the same error until `reset()`.
    public mutating func next(_ bytes: UnsafeRawBufferPointer) -> HTTPParseEvent<HTTPRequestHead> {
        let limits = machine.limits
        return machine.next(bytes) { bytes, layout throws(HTTPParseError) in
            try Self.parseHead(bytes, layout: layout, limits: limits)
        }
    }

    /// The second pass over a complete head: the head and how its body is delimited.
    private static func parseHead(
        _ bytes: UnsafeRawBufferPointer, layout: HTTPHeadScanner.Layout, limits: HTTPParserLimits
    ) throws(HTTPParseError) -> (HTTPRequestHead, HTTPBodyKind?) {
        let (method, target, version) = try HTTPStartLine.parseRequestLine(bytes, layout.startLine)
        let (headers, framing) = try HTTPFieldSection.parse(bytes, layout: layout, maxCount: limits.maxHeaderCount)
        if framing.hostCount > 1 { throw .code(.multipleHosts) }
        if framing.hostCount == 0 && version >= .http1_1 { throw .code(.missingHost) }
        let kind = try HTTPMessageFraming.requestBody(framing, version: version, limits: limits)
        return (HTTPRequestHead(method: method, target: target, version: version, headers: headers), kind)
    }
}
