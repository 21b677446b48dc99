/// Delimits one message body, whichever way it is framed; shared by both parsers.
struct HTTPBodyDecoder: Sendable {
    private enum Mode: Sendable {
        case length
        case chunked
        case untilClose
    }

    private var mode: Mode
    /// Bytes still to come (`.length`) or received so far (`.untilClose`).
    private var count: Int
    /// The chunked decoder (`.chunked` only), boxed: it is some twenty words, and unboxed it
    /// would make every body decoder that large, copied whenever one is set up for a message.
    /// Copied on write, so decoders stay values.
    private var chunked: ChunkedBox?
    private let maxBodySize: Int?

    private final class ChunkedBox: @unchecked Sendable {  // written only while uniquely referenced
        var decoder: HTTPChunkedDecoder
        init(_ decoder: HTTPChunkedDecoder) { self.decoder = decoder }
    }

    init(kind: HTTPBodyKind, limits: HTTPParserLimits) {
        maxBodySize = limits.maxBodySize
        chunked = nil
        switch kind {
        case .none:
            mode = .length
            count = 0
        case .length(let length):
            mode = .length
            count = length
        case .chunked:
            mode = .chunked
            count = 0
            chunked = ChunkedBox(HTTPChunkedDecoder(limits: limits))
        case .untilClose:
            mode = .untilClose
            count = 0
        }
    }

    /// Whether the body ends only when the connection closes.
    var endsAtClose: Bool { mode == .untilClose }

    /// Hands out the body bytes in `bytes`, or reports the end of the body.
    mutating func next(_ bytes: UnsafeRawBufferPointer) -> HTTPParseEvent<Never> {
        switch mode {
        case .length:
            if count == 0 { return .end(consumed: 0, trailers: nil) }
            if bytes.isEmpty { return .needMore }
            let taken = min(count, bytes.count)
            count -= taken
            return .body(start: 0, count: taken, consumed: taken)
        case .chunked:
            if !isKnownUniquelyReferenced(&chunked) {
                guard let shared = chunked else { preconditionFailure("chunked body without its decoder") }
                chunked = ChunkedBox(shared.decoder)
            }
            // Safe: set in init for `.chunked`, and only ever replaced by a copy above.
            return chunked.unsafelyUnwrapped.decoder.next(bytes)
        case .untilClose:
            if bytes.isEmpty { return .needMore }
            // Hand out what the limit still allows before refusing, so that the events do not
            // depend on how the bytes were split into reads.
            let allowed = maxBodySize.map { $0 - count } ?? Int.max
            if allowed == 0 { return .invalid(.code(.bodyTooLarge)) }
            let taken = min(bytes.count, allowed)
            count += taken
            return .body(start: 0, count: taken, consumed: taken)
        }
    }
}
