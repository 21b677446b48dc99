import Testing

@testable import HTTP

/// An event with the body slices merged, so that runs with different splits compare equal.
enum ParsedEvent<Head: Equatable>: Equatable, CustomStringConvertible {
    case head(Head)
    case body([UInt8])
    case end(trailers: HTTPHeaders?)
    case invalid(HTTPParseError.Code)

    var description: String {
        switch self {
        case .head(let head): return "head(\(head))"
        case .body(let bytes): return "body(\(String(decoding: bytes, as: UTF8.self)))"
        case .end(let trailers): return "end(\(trailers.map { "\($0)" } ?? "nil"))"
        case .invalid(let code): return "invalid(\(code))"
        }
    }
}

/// Something with the parsers' `next(_:)` shape, so one driver serves both.
protocol IncrementalParser {
    associatedtype Head: Equatable
    mutating func next(_ bytes: UnsafeRawBufferPointer) -> HTTPParseEvent<Head>
}

extension HTTPRequestParser: IncrementalParser {}
extension HTTPResponseParser: IncrementalParser {}

/// Plays a connection's caller: appends each segment to its buffer, passes the unread
/// bytes, advances by `consumed`, and calls again until `.needMore` — checking on the way
/// that no event consumes or points past what it was given.
func drive<Parser: IncrementalParser>(
    _ parser: inout Parser, _ input: [UInt8], segments: [Range<Int>],
    sourceLocation: SourceLocation = #_sourceLocation
) -> [ParsedEvent<Parser.Head>] {
    var events: [ParsedEvent<Parser.Head>] = []
    var buffer: [UInt8] = []
    var readIndex = 0
    func record(_ event: ParsedEvent<Parser.Head>) {
        if case .body(let more) = event, case .body(let earlier)? = events.last {
            events[events.count - 1] = .body(earlier + more)
        } else {
            events.append(event)
        }
    }
    segmentLoop: for segment in segments {
        buffer.append(contentsOf: input[segment])
        while true {
            let event = buffer.withUnsafeBytes { all in
                let unread = UnsafeRawBufferPointer(rebasing: all[readIndex...])
                let event = parser.next(unread)
                #expect(event.consumed <= unread.count, "consumed past the input", sourceLocation: sourceLocation)
                switch event {
                case .head(let head, _): record(.head(head))
                case .body(let start, let count, let consumed):
                    #expect(start >= 0 && count > 0 && start + count <= consumed, sourceLocation: sourceLocation)
                    record(.body(Array(unread[start..<(start + count)])))
                case .end(_, let trailers): record(.end(trailers: trailers))
                case .invalid(let error): record(.invalid(error.code))
                case .needMore: break
                }
                return event
            }
            readIndex += event.consumed
            if case .needMore = event { continue segmentLoop }
            if case .invalid = event { break segmentLoop }
        }
    }
    return events
}

/// The segmentations every test input is run through: whole, every two-way split, and
/// byte by byte.
func segmentations(of count: Int) -> [[Range<Int>]] {
    var result: [[Range<Int>]] = [[0..<count]]
    // Long inputs (the limit tests) get a sample of splits, to keep the suite fast.
    let step = count > 2048 ? count / 64 : 1
    for split in stride(from: 1, to: count, by: step) {
        result.append([0..<split, split..<count])
    }
    result.append((0..<count).map { $0..<($0 + 1) })
    return result
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Parses `text` as requests in every segmentation and checks they all agree; returns the
/// events of the whole-buffer run.
func parseRequests(
    _ text: String, limits: HTTPParserLimits = HTTPParserLimits(), sourceLocation: SourceLocation = #_sourceLocation
) -> [ParsedEvent<HTTPRequestHead>] {
    let input = bytes(text)
    var reference: [ParsedEvent<HTTPRequestHead>]?
    for segments in segmentations(of: input.count) {
        var parser = HTTPRequestParser(limits: limits)
        let events = drive(&parser, input, segments: segments, sourceLocation: sourceLocation)
        if let reference {
            #expect(events == reference, "split \(segments.prefix(2)) differs", sourceLocation: sourceLocation)
            if events != reference { break }
        } else {
            reference = events
        }
    }
    return reference ?? []
}

/// As `parseRequests`, for responses; `closeAtEnd` reports a connection close after the input.
func parseResponses(
    _ text: String, method: HTTPMethod = .GET, closeAtEnd: Bool = false,
    limits: HTTPParserLimits = HTTPParserLimits(), sourceLocation: SourceLocation = #_sourceLocation
) -> [ParsedEvent<HTTPResponseHead>] {
    let input = bytes(text)
    var reference: [ParsedEvent<HTTPResponseHead>]?
    for segments in segmentations(of: input.count) {
        var parser = HTTPResponseParser(limits: limits)
        parser.expectResponse(toRequestMethod: method)
        var events = drive(&parser, input, segments: segments, sourceLocation: sourceLocation)
        if closeAtEnd {
            if case .invalid? = events.last {} else {
                switch parser.connectionClosed() {
                case .end(_, let trailers): events.append(.end(trailers: trailers))
                case .invalid(let error): events.append(.invalid(error.code))
                default: Issue.record("connectionClosed gave an unexpected event", sourceLocation: sourceLocation)
                }
            }
        }
        if let reference {
            #expect(events == reference, "split \(segments.prefix(2)) differs", sourceLocation: sourceLocation)
            if events != reference { break }
        } else {
            reference = events
        }
    }
    return reference ?? []
}

/// The code of the last event if it is `.invalid`.
func rejection<Head>(_ events: [ParsedEvent<Head>]) -> HTTPParseError.Code? {
    if case .invalid(let code)? = events.last { return code }
    return nil
}
