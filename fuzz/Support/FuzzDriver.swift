// Shared by the three fuzz targets: compiled into each of them by fuzz/run.sh.

/// Small limits, so that the fuzzer reaches every limit check with short inputs.
let fuzzLimits = HTTPParserLimits(
    maxRequestLineLength: 200, maxHeaderBytes: 600, maxHeaderCount: 12, maxBodySize: 2000, maxChunkLineLength: 48)

/// An event with body slices merged: runs over differently split input must agree on these.
enum FuzzVerdict<Head: Equatable>: Equatable {
    case head(Head)
    case body([UInt8])
    case end(HTTPHeaders?)
    case invalid(HTTPParseError)
}

/// Anything with the parsers' `next(_:)` shape.
protocol FuzzParser {
    associatedtype Head: Equatable
    mutating func next(_ bytes: UnsafeRawBufferPointer) -> HTTPParseEvent<Head>
}

extension HTTPRequestParser: FuzzParser {}
extension HTTPResponseParser: FuzzParser {}

/// Plays the caller over `input` delivered in `segments`, trapping when an event consumes
/// or points past the bytes it was given; returns the merged events.
func fuzzDrive<Parser: FuzzParser>(
    _ parser: inout Parser, _ input: UnsafeRawBufferPointer, segments: [Range<Int>]
) -> [FuzzVerdict<Parser.Head>] {
    var verdicts: [FuzzVerdict<Parser.Head>] = []
    var readIndex = 0
    var steps = 0
    segmentLoop: for segment in segments {
        // The caller's unread bytes are input[readIndex ..< segment.upperBound].
        while true {
            // Safe: readIndex <= segment.upperBound <= input.count, checked below for each event.
            let unread = UnsafeRawBufferPointer(rebasing: input[readIndex..<segment.upperBound])
            let event = parser.next(unread)
            steps += 1
            precondition(steps < 1_000_000, "parser does not make progress")
            precondition(event.consumed >= 0 && event.consumed <= unread.count, "consumed past the input")
            switch event {
            case .needMore:
                continue segmentLoop
            case .head(let head, _):
                verdicts.append(.head(head))
            case .body(let start, let count, let consumed):
                precondition(start >= 0 && count > 0 && start + count <= consumed, "body outside consumed bytes")
                let slice = Array(unread[start..<(start + count)])
                if case .body(let earlier)? = verdicts.last {
                    verdicts[verdicts.count - 1] = .body(earlier + slice)
                } else {
                    verdicts.append(.body(slice))
                }
            case .end(_, let trailers):
                verdicts.append(.end(trailers))
            case .invalid(let error):
                verdicts.append(.invalid(error))
                _ = error.status
                _ = error.description
                break segmentLoop
            }
            readIndex += event.consumed
        }
    }
    return verdicts
}

/// Whole, split in two at `split`, and (for short inputs) byte by byte.
func fuzzSegmentations(count: Int, split: Int) -> [[Range<Int>]] {
    var result: [[Range<Int>]] = [[0..<count]]
    if count > 1 {
        let point = 1 + split % (count - 1)
        result.append([0..<point, point..<count])
    }
    if count <= 512 {
        result.append((0..<count).map { $0..<($0 + 1) })
    }
    return result
}

/// Traps unless every run gave the same verdicts.
func requireSameVerdicts<Head: Equatable>(_ runs: [[FuzzVerdict<Head>]]) {
    for run in runs.dropFirst() {
        precondition(run == runs[0], "split input gave a different verdict than whole input")
    }
}
