/// An incremental, zero-copy HTTP/1.1 response parser for the client and the gateway.
///
/// Same shape as `HTTPRequestParser`. It needs to know the request's method (a response to
/// HEAD has no body), and it reports the end of a body that runs until close when told
/// that the connection closed. Interim responses (1xx other than 101) are reported as heads
/// without `.end`; the next head is the final response. A 101 head is followed by the new
/// protocol's bytes as an until-close body.
public struct HTTPResponseParser: Sendable {
    private var machine: HTTPMessageMachine
    private var requestMethod = HTTPMethod.GET

    public var limits: HTTPParserLimits { machine.limits }
    /// How the body of the response whose head was last returned is delimited.
    public var bodyKind: HTTPBodyKind { machine.bodyKind }

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        machine = HTTPMessageMachine(limits: limits, startLineTooLong: .statusLineTooLong)
    }

    /// Sets the method of the request the next response answers; it holds until changed,
    /// so call it before each response (GET until first called).
    public mutating func expectResponse(toRequestMethod method: HTTPMethod) {
        requestMethod = method
    }

    /// Forgets any partial response and any error.
    public mutating func reset() {
        machine.reset()
    }

    /// Parses as far as `bytes` allow and reports one event; see `HTTPRequestParser.next(_:)`.
    public mutating func next(_ bytes: UnsafeRawBufferPointer) -> HTTPParseEvent<HTTPResponseHead> {
        let limits = machine.limits
        let requestMethod = self.requestMethod
        return machine.next(bytes) { bytes, layout throws(HTTPParseError) in
            try Self.parseHead(bytes, layout: layout, limits: limits, requestMethod: requestMethod)
        }
    }

    /// Tells the parser that the server closed the connection (read returned 0).
    ///
    /// - Returns: `.end` when that completes an until-close body; `.invalid(.noResponse)` when
    ///   no byte of a response had been examined; `.invalid(.truncatedMessage)` otherwise.
    ///   Bytes not yet passed to `next(_:)` must be passed first.
    public mutating func connectionClosed() -> HTTPParseEvent<HTTPResponseHead> {
        switch machine.phase {
        case .body where machine.decoder.endsAtClose:
            machine.expectHead()
            return .end(consumed: 0, trailers: nil)
        case .head where !machine.scanner.hasExamined:
            return machine.fail(.code(.noResponse))
        case .failed(let error):
            return .invalid(error)
        case .head, .body:
            return machine.fail(.code(.truncatedMessage))
        }
    }

    /// The second pass over a complete head: the head and what follows it (nil: another
    /// head, after an interim 1xx).
    private static func parseHead(
        _ bytes: UnsafeRawBufferPointer, layout: HTTPHeadScanner.Layout, limits: HTTPParserLimits,
        requestMethod: HTTPMethod
    ) throws(HTTPParseError) -> (HTTPResponseHead, HTTPBodyKind?) {
        let (version, status) = try HTTPStartLine.parseStatusLine(bytes, layout.startLine)
        let (headers, framing) = try HTTPFieldSection.parse(bytes, layout: layout, maxCount: limits.maxHeaderCount)
        let head = HTTPResponseHead(status: status, version: version, headers: headers)
        if status.isInformational && status != .switchingProtocols { return (head, nil) }
        if status == .switchingProtocols { return (head, .untilClose) }
        let kind = try HTTPMessageFraming.responseBody(
            framing, status: status, requestMethod: requestMethod, limits: limits)
        return (head, kind)
    }
}
