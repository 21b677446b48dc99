/// Delimits one message body, whichever way it is framed; shared by both parsers.
struct HTTPBodyDecoder: Sendable {
    private enum State: Sendable {
        case length(remaining: Int)
        case chunked(HTTPChunkedDecoder)
        case untilClose(received: Int)
    }

    private var state: State
    private let maxBodySize: Int?

    init(kind: HTTPBodyKind, limits: HTTPParserLimits) {
        maxBodySize = limits.maxBodySize
        switch kind {
        case .none: state = .length(remaining: 0)
        case .length(let length): state = .length(remaining: length)
        case .chunked: state = .chunked(HTTPChunkedDecoder(limits: limits))
        case .untilClose: state = .untilClose(received: 0)
        }
    }

    /// Whether the body ends only when the connection closes.
    var endsAtClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// Hands out the body bytes in `bytes`, or reports the end of the body.
    mutating func next(_ bytes: UnsafeRawBufferPointer) -> HTTPParseEvent<Never> {
        switch state {
        case .length(let remaining):
            if remaining == 0 { return .end(consumed: 0, trailers: nil) }
            if bytes.isEmpty { return .needMore }
            let count = min(remaining, bytes.count)
            state = .length(remaining: remaining - count)
            return .body(start: 0, count: count, consumed: count)
        case .chunked(var decoder):
            // Take the decoder out of `state` while it runs, so that it is mutated in place.
            state = .length(remaining: 0)
            defer { state = .chunked(decoder) }
            return decoder.next(bytes)
        case .untilClose(let received):
            if bytes.isEmpty { return .needMore }
            // Hand out what the limit still allows before refusing, so that the events do not
            // depend on how the bytes were split into reads.
            let allowed = maxBodySize.map { $0 - received } ?? Int.max
            if allowed == 0 { return .invalid(.code(.bodyTooLarge)) }
            let count = min(bytes.count, allowed)
            state = .untilClose(received: received + count)
            return .body(start: 0, count: count, consumed: count)
        }
    }
}
