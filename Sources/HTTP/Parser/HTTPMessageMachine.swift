/// The state machine the request and response parsers share: scan a head, decode the body
/// it announces, then scan the next head; an error sticks until `reset()`.
///
/// The parsers differ only in how a complete head is read and which body it announces,
/// which each passes to ``next(_:parseHead:)``.
///
/// The head scanner and the body decoder are stored side by side, with ``phase`` saying
/// which one is current, rather than as payloads of one state enum: a payload is copied out
/// and written back on every call, and these run several times per message.
struct HTTPMessageMachine: Sendable {
    enum Phase: Sendable, Equatable {
        case head
        case body
        case failed(HTTPParseError)
    }

    let limits: HTTPParserLimits
    /// The error for a start line over the limit (request line or status line).
    private let startLineTooLong: HTTPParseError.Code
    private(set) var phase: Phase = .head
    /// The current head's scanner (meaningful in the `.head` phase).
    private(set) var scanner: HTTPHeadScanner
    /// The current body's decoder (meaningful in the `.body` phase).
    private(set) var decoder: HTTPBodyDecoder
    /// How the body of the message whose head was last returned is delimited.
    private(set) var bodyKind: HTTPBodyKind = .none

    init(limits: HTTPParserLimits, startLineTooLong: HTTPParseError.Code) {
        self.limits = limits
        self.startLineTooLong = startLineTooLong
        scanner = HTTPHeadScanner(limits: limits, startLineTooLong: startLineTooLong)
        decoder = HTTPBodyDecoder(kind: .none, limits: limits)
    }

    /// Ready for a new head at the next byte.
    mutating func expectHead() {
        scanner = HTTPHeadScanner(limits: limits, startLineTooLong: startLineTooLong)
        phase = .head
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
        switch phase {
        case .head:
            switch scanner.scan(bytes) {
            case .needMore:
                return .needMore
            case .invalid(let error):
                return fail(error)
            case .complete(let layout):
                do throws(HTTPParseError) {
                    let (head, kind) = try parseHead(bytes, layout)
                    bodyKind = kind ?? .none
                    if let kind {
                        decoder = HTTPBodyDecoder(kind: kind, limits: limits)
                        phase = .body
                    } else {
                        expectHead()
                    }
                    return .head(head, consumed: layout.end)
                } catch {
                    return fail(error)
                }
            }
        case .body:
            switch decoder.next(bytes) {
            case .needMore:
                return .needMore
            case .body(let start, let count, let consumed):
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
        phase = .failed(error)
        return .invalid(error)
    }
}
