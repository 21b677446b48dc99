/// Finds where a head (or a trailer section) ends, a little more on every call.
///
/// The first pass of head parsing: it only looks for line ends, checks that each LF follows
/// a CR, and enforces the size limits. Like picohttpparser's `last_len`, it remembers how far
/// it looked, so a head that arrives byte by byte is scanned once in total; the second pass
/// (`HTTPHeadParser`) then runs once over the complete head.
struct HTTPHeadScanner: Sendable {
    /// Where the parts of a complete head lie in the buffer.
    struct Layout: Sendable {
        /// The start line without its CRLF (empty for a trailer section).
        var startLine: Range<Int>
        /// The field lines, each ending in CRLF, without the final empty line.
        var fieldLines: Range<Int>
        /// The number of field lines.
        var fieldLineCount: Int
        /// The offset just after the final CRLF: the head's length.
        var end: Int
    }

    enum Outcome {
        case needMore
        case complete(Layout)
        case invalid(HTTPParseError)
    }

    private let maxStartLineLength: Int
    private let maxFieldBytes: Int
    /// The error for a start line over the limit (414 for requests).
    private let startLineTooLong: HTTPParseError.Code
    /// The next byte to examine.
    private var position: Int
    /// Where the current line begins.
    private var lineStart: Int
    /// Where the start line begins, after the empty lines RFC 9112 §2.2 lets us skip.
    private var startLineStart: Int
    /// Where the field lines begin; `nil` while the start line is incomplete.
    private var fieldsStart: Int?
    private var fieldLineCount = 0

    /// A scanner for a head that begins at offset 0 with a start line.
    init(limits: HTTPParserLimits, startLineTooLong: HTTPParseError.Code) {
        maxStartLineLength = limits.maxRequestLineLength
        maxFieldBytes = limits.maxHeaderBytes
        self.startLineTooLong = startLineTooLong
        position = 0
        lineStart = 0
        startLineStart = 0
        fieldsStart = nil
    }

    /// A scanner for a trailer section (field lines only) that begins at `offset`.
    init(trailersAt offset: Int, limits: HTTPParserLimits) {
        maxStartLineLength = 0
        maxFieldBytes = limits.maxHeaderBytes
        startLineTooLong = .headersTooLarge
        position = offset
        lineStart = offset
        startLineStart = offset
        fieldsStart = offset
    }

    /// Scans the bytes not yet examined.
    ///
    /// - Parameter bytes: the caller's unread bytes; their prefix must be the bytes passed
    ///   on the previous call.
    mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        precondition(bytes.count >= position, "HTTP parser: bytes already examined were not passed again")
        while fieldsStart == nil {
            // The start line (and the empty lines RFC 9112 §2.2 lets us skip before it).
            // Counted from offset 0 so that skipped empty lines count too: otherwise an
            // endless stream of CRLF would be buffered forever.
            let bound = maxStartLineLength + 2
            let limit = min(bytes.count, bound)
            let index = HTTPHeadScanner.firstLineFeed(bytes, from: position, limit: limit)
            if index == limit {
                position = index
                return limit == bound ? .invalid(.code(startLineTooLong)) : .needMore
            }
            // Bare LF is refused rather than accepted as a line end (RFC 9112 §2.2 allows
            // either): a proxy in front of us that disagrees would see different messages.
            guard index > lineStart, bytes[index - 1] == UInt8(ascii: "\r") else {
                return .invalid(.code(.invalidLineEnding))
            }
            position = index + 1
            if index - 1 == lineStart {
                startLineStart = position
            } else {
                fieldsStart = position
            }
            lineStart = position
        }
        // The field lines, on locals (written back when the call returns): this loop runs
        // once per line of every head.
        let fieldsStart = self.fieldsStart.unsafelyUnwrapped  // set by the loop above
        let bound = fieldsStart + maxFieldBytes
        let limit = min(bytes.count, bound)
        var position = self.position
        var lineStart = self.lineStart
        var lineCount = fieldLineCount
        defer {
            self.position = position
            self.lineStart = lineStart
            fieldLineCount = lineCount
        }
        while true {
            // From `position`, not the line's start: a line that arrives in pieces is scanned once.
            let index = HTTPHeadScanner.firstLineFeed(bytes, from: position, limit: limit)
            if index == limit {
                position = index
                return limit == bound ? .invalid(.code(.headersTooLarge)) : .needMore
            }
            guard index > lineStart, bytes[index - 1] == UInt8(ascii: "\r") else {
                return .invalid(.code(.invalidLineEnding))
            }
            if index - 1 == lineStart {
                position = index + 1
                return .complete(
                    Layout(
                        startLine: startLineStart..<max(startLineStart, fieldsStart - 2),
                        fieldLines: fieldsStart..<lineStart,
                        fieldLineCount: lineCount,
                        end: index + 1))
            }
            lineCount += 1
            position = index + 1
            lineStart = position
        }
    }
}

extension HTTPHeadScanner {
    /// Whether any byte has been examined (a connection closed before that sent nothing).
    var hasExamined: Bool { position > 0 }
}

extension HTTPHeadScanner {
    /// The offset of the first LF in `bytes[start..<limit]`, or `limit`.
    ///
    /// Eight bytes per step (the "has zero byte" bit trick on `word ^ 0x0a0a...`), since
    /// finding line ends is most of what the first pass does.
    @inline(__always)
    static func firstLineFeed(_ bytes: UnsafeRawBufferPointer, from start: Int, limit: Int) -> Int {
        var index = start
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let lineFeeds: UInt64 = 0x0a0a_0a0a_0a0a_0a0a
        while index + 8 <= limit {
            // Safe: index + 8 <= limit <= bytes.count.
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) ^ lineFeeds
            let found = (word &- ones) & ~word & highs
            if found != 0 {
                // The lowest flagged byte is the first LF (a borrow only flags bytes after one).
                return index + found.trailingZeroBitCount >> 3
            }
            index += 8
        }
        while index < limit, bytes[index] != UInt8(ascii: "\n") { index += 1 }
        return index
    }
}
