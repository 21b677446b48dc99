/// An incremental, zero-copy HTTP/1.1 response parser for the client and the gateway.
///
/// Same shape as `HTTPRequestParser`. It needs to know the request's method (a response to
/// HEAD has no body), and it reports the end of a body that runs until close when told
/// that the connection closed. Interim responses (1xx other than 101) are reported as heads
/// without `.end`; the next head is the final response. A 101 head is followed by the new
/// protocol's bytes as an until-close body.
public struct HTTPResponseParser: Sendable {
    private enum State: Sendable {
        case head(HTTPHeadScanner)
        case body(HTTPBodyDecoder)
        case failed(HTTPParseError)
    }

    public let limits: HTTPParserLimits
    private var state: State
    private var requestMethod = HTTPMethod.GET
    /// How the body of the response whose head was last returned is delimited.
    public private(set) var bodyKind: HTTPBodyKind = .none

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
        state = .head(HTTPResponseParser.newScanner(limits))
    }

    private static func newScanner(_ limits: HTTPParserLimits) -> HTTPHeadScanner {
        HTTPHeadScanner(limits: limits, startLineTooLong: .statusLineTooLong)
    }

    /// Sets the method of the request the next response answers; it holds until changed,
    /// so call it before each response (GET until first called).
    public mutating func expectResponse(toRequestMethod method: HTTPMethod) {
        requestMethod = method
    }

    /// Forgets any partial response and any error.
    public mutating func reset() {
        state = .head(HTTPResponseParser.newScanner(limits))
        bodyKind = .none
    }

    /// Parses as far as `bytes` allow and reports one event; see `HTTPRequestParser.next(_:)`.
    public mutating func next(_ bytes: UnsafeRawBufferPointer) -> HTTPParseEvent<HTTPResponseHead> {
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
            switch decoder.next(bytes) {
            case .needMore:
                state = .body(decoder)
                return .needMore
            case .body(let start, let count, let consumed):
                state = .body(decoder)
                return .body(start: start, count: count, consumed: consumed)
            case .end(let consumed, let trailers):
                state = .head(HTTPResponseParser.newScanner(limits))
                return .end(consumed: consumed, trailers: trailers)
            case .invalid(let error):
                return fail(error)
            }
        case .failed(let error):
            return .invalid(error)
        }
    }

    /// Tells the parser that the server closed the connection (read returned 0).
    ///
    /// - Returns: `.end` when that completes an until-close body; `.invalid(.noResponse)` when
    ///   no byte of a response had been examined; `.invalid(.truncatedMessage)` otherwise.
    ///   Bytes not yet passed to `next(_:)` must be passed first.
    public mutating func connectionClosed() -> HTTPParseEvent<HTTPResponseHead> {
        switch state {
        case .body(let decoder) where decoder.endsAtClose:
            state = .head(HTTPResponseParser.newScanner(limits))
            return .end(consumed: 0, trailers: nil)
        case .head(let scanner) where !scanner.hasExamined:
            return fail(.code(.noResponse))
        case .failed(let error):
            return .invalid(error)
        case .head, .body:
            return fail(.code(.truncatedMessage))
        }
    }

    private mutating func fail(_ error: HTTPParseError) -> HTTPParseEvent<HTTPResponseHead> {
        state = .failed(error)
        return .invalid(error)
    }

    private mutating func parseHead(
        _ bytes: UnsafeRawBufferPointer, layout: HTTPHeadScanner.Layout
    ) throws(HTTPParseError) -> HTTPResponseHead {
        let (version, status) = try HTTPStartLine.parseStatusLine(bytes, layout.startLine)
        let (headers, framing) = try HTTPFieldSection.parse(bytes, layout: layout, maxCount: limits.maxHeaderCount)
        let head = HTTPResponseHead(status: status, version: version, headers: headers)
        if status.isInformational && status != .switchingProtocols {
            bodyKind = .none
            state = .head(HTTPResponseParser.newScanner(limits))
            return head
        }
        let kind: HTTPBodyKind
        if status == .switchingProtocols {
            kind = .untilClose
        } else {
            kind = try HTTPMessageFraming.responseBody(
                framing, status: status, requestMethod: requestMethod, limits: limits)
        }
        bodyKind = kind
        state = .body(HTTPBodyDecoder(kind: kind, limits: limits))
        return head
    }
}
