/// The state machine the request and response parsers share: scan a head, decode the body
/// it announces, then scan the next head; an error sticks until `reset()`.
///
/// The parsers differ only in how a complete head is read and which body it announces,
/// which each passes to ``next(_:parseHead:)``.
struct HTTPMessageMachine: Sendable {
    enum State: Sendable {
        case head(HTTPHeadScanner)
        case body(HTTPBodyDecoder)
        case failed(HTTPParseError)
    }

    let limits: HTTPParserLimits
    /// The error for a start line over the limit (request line or status line).
    private let startLineTooLong: HTTPParseError.Code
    private(set) var state: State
    /// How the body of the message whose head was last returned is delimited.
    private(set) var bodyKind: HTTPBodyKind = .none

    init(limits: HTTPParserLimits, startLineTooLong: HTTPParseError.Code) {
        self.limits = limits
        self.startLineTooLong = startLineTooLong
        state = .head(HTTPHeadScanner(limits: limits, startLineTooLong: startLineTooLong))
    }

    /// Ready for a new head at the next byte.
    mutating func expectHead() {
        state = .head(HTTPHeadScanner(limits: limits, startLineTooLong: startLineTooLong))
    }

    mutating func reset() {
        expectHead()
        bodyKind = .none
    }

    /// Parses as far as `bytes` allow and reports one event.
    ///
    /// - Parameter parseHead: reads a complete head and says what follows it: a body of the
    ///   given kind, or (nil) another head (an interim response).
    mutating func next<Head>(
        _ bytes: UnsafeRawBufferPointer,
        parseHead: (UnsafeRawBufferPointer, HTTPHeadScanner.Layout) throws(HTTPParseError) -> (Head, HTTPBodyKind?)
    ) -> HTTPParseEvent<Head> {
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
                    let (head, kind) = try parseHead(bytes, layout)
                    bodyKind = kind ?? .none
                    if let kind {
                        state = .body(HTTPBodyDecoder(kind: kind, limits: limits))
                    } else {
                        expectHead()
                    }
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
                expectHead()
                return .end(consumed: consumed, trailers: trailers)
            case .invalid(let error):
                return fail(error)
            }
        case .failed(let error):
            return .invalid(error)
        }
    }

    /// Records `error` as the parser's final state and reports it.
    mutating func fail<Head>(_ error: HTTPParseError) -> HTTPParseEvent<Head> {
        state = .failed(error)
        return .invalid(error)
    }
}
