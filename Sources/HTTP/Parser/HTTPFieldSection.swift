/// The second pass over a complete header or trailer section: field lines to `HTTPHeaders`,
/// noting on the way what decides the body's framing.
///
/// Field lines are `token ":" OWS value OWS CRLF` (RFC 9112 §5). Refused: whitespace
/// before the colon, a line starting with whitespace (obs-fold), control bytes in a value.
enum HTTPFieldSection {
    /// What the framing rules need to know, gathered while the fields are parsed so that
    /// no second lookup by name is needed.
    struct FramingFields: Sendable {
        var contentLength = ContentLength.absent
        var transferEncoding = TransferEncoding()
        var hostCount = 0
    }

    enum ContentLength: Equatable {
        case absent
        case value(Int)
        case invalid
    }

    /// The codings listed by all `Transfer-Encoding` lines together.
    struct TransferEncoding {
        var isPresent = false
        var codingCount = 0
        var chunkedCount = 0
        var lastIsChunked = false
        /// An empty list element: RFC 9110 §5.6.1 would skip it, we refuse it, because a
        /// smuggling attempt is the only reason to send one.
        var hasEmptyElement = false
    }

    /// Room reserved after the parsed fields, so that a proxy adds its own (`X-Forwarded-*`,
    /// `X-Request-ID`, a 55-byte `traceparent`) without reallocating: at least what the
    /// gateway's header hygiene reserves (`reserveCapacity(7)`, 336 bytes).
    static let spareBytes = 384

    /// Parses `layout.fieldLines` of `bytes`.
    ///
    /// - Returns: the fields in order, and the framing-relevant ones summarised.
    /// - Throws: `HTTPParseError` for a malformed line or too many lines.
    static func parse(
        _ bytes: UnsafeRawBufferPointer, layout: HTTPHeadScanner.Layout, maxCount: Int
    ) throws(HTTPParseError) -> (HTTPHeaders, FramingFields) {
        guard layout.fieldLineCount <= maxCount else { throw .code(.tooManyHeaders) }
        // Each line is stored as `name: value` CRLF after a record header: at most its raw
        // length plus the header and one space; room is left for a proxy's own fields.
        let capacity = layout.fieldLines.count + layout.fieldLineCount * (HTTPHeaders.Record.headerSize + 1)
        var framing = FramingFields()
        let headers = try HTTPHeaders(byteCapacity: capacity, spareCapacity: Self.spareBytes) {
            (writer) throws(HTTPParseError) in
            var lineStart = layout.fieldLines.lowerBound
            let end = layout.fieldLines.upperBound
            while lineStart < end {
                lineStart = try parseLine(bytes, from: lineStart, into: &writer, framing: &framing)
            }
        }
        return (headers, framing)
    }

    /// Parses the field line at `start`, in one pass: the scanner has checked that every LF
    /// follows a CR, so a CR followed by LF is the line end and any other CR is an error.
    ///
    /// - Returns: the offset of the next line.
    private static func parseLine(
        _ bytes: UnsafeRawBufferPointer, from start: Int,
        into headers: inout ParsedFieldWriter, framing: inout FramingFields
    ) throws(HTTPParseError) -> Int {
        var index = start
        if HTTPByteClass.isWhitespace(bytes[index]) { throw .code(.obsFold) }
        while HTTPByteClass.isToken(bytes[index]) { index += 1 }
        let nameEnd = index
        switch bytes[index] {
        case UInt8(ascii: ":") where nameEnd > start:
            // `HTTPHeaders` records a name's length in 16 bits; a longer name (possible only
            // with a header limit above 64 KiB) is refused, never stored truncated.
            if nameEnd - start > Int(UInt16.max) { throw .code(.headersTooLarge) }
        case UInt8(ascii: " "), UInt8(ascii: "\t"):
            // `Name : v` is whitespace before the colon; `Na me: v` is a bad name.
            while HTTPByteClass.isWhitespace(bytes[index]) { index += 1 }
            throw .code(bytes[index] == UInt8(ascii: ":") && nameEnd > start ? .whitespaceBeforeColon : .invalidHeaderName)
        default:
            throw .code(.invalidHeaderName)
        }
        index += 1
        while HTTPByteClass.isWhitespace(bytes[index]) { index += 1 }
        let valueStart = index
        index = HTTPByteClass.endOfFieldValue(bytes, from: index)
        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\r"), bytes[index + 1] == UInt8(ascii: "\n") else {
            throw .code(.invalidHeaderValue)
        }
        var valueEnd = index
        while valueEnd > valueStart, HTTPByteClass.isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
        // Safe: both ranges lie inside `bytes`, which outlives these views.
        let name = UnsafeRawBufferPointer(rebasing: bytes[start..<nameEnd])
        let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
        noteFraming(name: name, value: value, framing: &framing)
        headers.append(name: name, value: value)
        return index + 2
    }

    /// Records `Content-Length`, `Transfer-Encoding` and `Host`; names are compared by length
    /// first, so most fields cost one integer comparison here.
    private static func noteFraming(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, framing: inout FramingFields
    ) {
        switch name.count {
        case 4 where HTTPASCII.equalsIgnoringCase(name, lowercase: "host"):
            framing.hostCount += 1
        case 14 where HTTPASCII.equalsIgnoringCase(name, lowercase: "content-length"):
            framing.contentLength = mergeContentLength(framing.contentLength, value)
        case 17 where HTTPASCII.equalsIgnoringCase(name, lowercase: "transfer-encoding"):
            noteTransferEncoding(value, into: &framing.transferEncoding)
        default:
            break
        }
    }

    /// Folds one `Content-Length` value (possibly a list of copies) into what was seen before:
    /// identical copies are one length (RFC 9110 §8.6), anything else is invalid.
    private static func mergeContentLength(_ previous: ContentLength, _ value: UnsafeRawBufferPointer) -> ContentLength {
        var result = previous
        var index = 0
        repeat {
            while index < value.count, HTTPByteClass.isWhitespace(value[index]) { index += 1 }
            var number = 0
            var digits = 0
            while index < value.count, value[index] &- UInt8(ascii: "0") < 10 {
                let (times10, overflow1) = number.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int(value[index] &- UInt8(ascii: "0")))
                if overflow1 || overflow2 { return .invalid }
                number = sum
                digits += 1
                index += 1
            }
            while index < value.count, HTTPByteClass.isWhitespace(value[index]) { index += 1 }
            guard digits > 0, index == value.count || value[index] == UInt8(ascii: ",") else { return .invalid }
            switch result {
            case .absent: result = .value(number)
            case .value(let seen) where seen == number: break
            case .value, .invalid: return .invalid
            }
            index += 1
        } while index <= value.count
        return result
    }

    /// Folds one `Transfer-Encoding` value into the codings seen before.
    private static func noteTransferEncoding(_ value: UnsafeRawBufferPointer, into codings: inout TransferEncoding) {
        codings.isPresent = true
        HTTPASCII.forEachListElement(value) { coding in
            if coding.isEmpty { codings.hasEmptyElement = true }
            let isChunked = HTTPASCII.equalsIgnoringCase(coding, lowercase: "chunked")
            codings.codingCount += 1
            if isChunked { codings.chunkedCount += 1 }
            codings.lastIsChunked = isChunked
            return true
        }
    }
}
