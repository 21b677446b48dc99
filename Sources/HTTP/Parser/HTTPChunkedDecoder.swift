/// Decodes a chunked body (RFC 9112 §7.1) incrementally, byte by byte outside chunk data.
///
/// Chunk data is handed out as it arrives, never buffered. Chunk lines and the trailer
/// section are examined once and remembered (`examined`) until they are complete, so the
/// caller re-passes them but the decoder does not re-read them.
struct HTTPChunkedDecoder: Sendable {
    /// Where we are in `chunk-size [chunk-ext] CRLF chunk-data CRLF`.
    private enum State: Sendable {
        case size
        case `extension`(ExtensionState)
        case sizeLineFeed
        case data(remaining: Int)
        case dataCarriageReturn
        case dataLineFeed
        case trailers(HTTPHeadScanner)
    }

    /// Positions inside `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`.
    private enum ExtensionState: Sendable {
        /// After the size or a value: `;`, whitespace or CR.
        case afterItem
        /// After whitespace: only more whitespace or `;` (BWS must precede a `;`).
        case beforeSemicolon
        case beforeName
        case name
        case afterName
        case beforeValue
        case tokenValue
        case quotedValue
        case quotedPair
    }

    private let limits: HTTPParserLimits
    private var state = State.size
    /// Bytes at the start of the next buffer that were already examined.
    private var examined = 0
    private var chunkSize = 0
    private var sizeDigits = 0
    private var lineLength = 0
    private var bodyBytes = 0

    init(limits: HTTPParserLimits) {
        self.limits = limits
    }

    /// Decodes as far as `bytes` allow. Returns `.body`, `.end`, `.needMore` or `.invalid`.
    mutating func next(_ bytes: UnsafeRawBufferPointer) -> HTTPParseEvent<Never> {
        precondition(bytes.count >= examined, "HTTP parser: bytes already examined were not passed again")
        var index = examined
        while index < bytes.count {
            let byte = bytes[index]
            switch state {
            case .data(let remaining):
                let count = min(remaining, bytes.count - index)
                state = remaining == count ? .dataCarriageReturn : .data(remaining: remaining - count)
                examined = 0
                return .body(start: index, count: count, consumed: index + count)
            case .dataCarriageReturn:
                guard byte == UInt8(ascii: "\r") else { return .invalid(.code(.invalidChunkTerminator)) }
                state = .dataLineFeed
            case .dataLineFeed:
                guard byte == UInt8(ascii: "\n") else { return .invalid(.code(.invalidChunkTerminator)) }
                state = .size
                chunkSize = 0
                sizeDigits = 0
                lineLength = 0
            case .trailers(var scanner):
                switch scanner.scan(bytes) {
                case .needMore:
                    state = .trailers(scanner)
                    examined = bytes.count
                    return .needMore
                case .invalid(let error):
                    return .invalid(error)
                case .complete(let layout):
                    do throws(HTTPParseError) {
                        let (trailers, _) = try HTTPFieldSection.parse(
                            bytes, layout: layout, maxCount: limits.maxHeaderCount)
                        return .end(consumed: layout.end, trailers: trailers.isEmpty ? nil : trailers)
                    } catch {
                        return .invalid(error)
                    }
                }
            case .size, .extension, .sizeLineFeed:
                lineLength += 1
                if lineLength > limits.maxChunkLineLength { return .invalid(.code(.chunkLineTooLong)) }
                if let error = chunkLineByte(byte) { return .invalid(error) }
                if case .sizeLineFeed = state, byte == UInt8(ascii: "\n") {
                    if let error = chunkLineEnded(at: index + 1) { return .invalid(error) }
                }
            }
            index += 1
        }
        examined = index
        return .needMore
    }

    /// Feeds one byte of a chunk-size line; returns an error or `nil`.
    private mutating func chunkLineByte(_ byte: UInt8) -> HTTPParseError? {
        switch state {
        case .size:
            if let digit = HTTPByteClass.hexValue(byte) {
                // Overflow check before the shift: the size must fit an Int.
                guard chunkSize <= Int.max >> 4 else { return .code(.invalidChunkSize) }
                chunkSize = chunkSize << 4 | digit
                sizeDigits += 1
                return nil
            }
            guard sizeDigits > 0 else { return .code(.invalidChunkSize) }
            switch byte {
            case UInt8(ascii: "\r"): state = .sizeLineFeed
            case UInt8(ascii: ";"): state = .extension(.beforeName)
            case UInt8(ascii: " "), UInt8(ascii: "\t"): state = .extension(.beforeSemicolon)
            default: return .code(.invalidChunkSize)
            }
            return nil
        case .extension(let position):
            return extensionByte(byte, at: position)
        case .sizeLineFeed:
            return byte == UInt8(ascii: "\n") ? nil : .code(.invalidLineEnding)
        default:
            preconditionFailure("Invalid state: \(state)")
        }
    }

    /// Validates chunk extensions; their content is ignored, their syntax is not, because a
    /// front end that read them differently could find a different chunk boundary.
    private mutating func extensionByte(_ byte: UInt8, at position: ExtensionState) -> HTTPParseError? {
        let isToken = HTTPByteClass.isToken(byte)
        let isSpace = HTTPByteClass.isWhitespace(byte)
        let next: ExtensionState?
        switch position {
        case .afterItem:
            if byte == UInt8(ascii: "\r") {
                state = .sizeLineFeed
                return nil
            }
            next = byte == UInt8(ascii: ";") ? .beforeName : isSpace ? .beforeSemicolon : nil
        case .beforeSemicolon:
            next = byte == UInt8(ascii: ";") ? .beforeName : isSpace ? .beforeSemicolon : nil
        case .beforeName:
            next = isToken ? .name : isSpace ? .beforeName : nil
        case .name, .afterName:
            if byte == UInt8(ascii: "\r"), case .name = position {
                state = .sizeLineFeed
                return nil
            }
            if byte == UInt8(ascii: "=") {
                next = .beforeValue
            } else if byte == UInt8(ascii: ";") {
                next = .beforeName
            } else if isSpace {
                next = .afterName
            } else if isToken, case .name = position {
                next = .name
            } else {
                next = nil
            }
        case .beforeValue:
            next = byte == UInt8(ascii: "\"") ? .quotedValue : isToken ? .tokenValue : isSpace ? .beforeValue : nil
        case .tokenValue:
            if byte == UInt8(ascii: "\r") {
                state = .sizeLineFeed
                return nil
            }
            next = isToken ? .tokenValue : byte == UInt8(ascii: ";") ? .beforeName : isSpace ? .beforeSemicolon : nil
        case .quotedValue:
            switch byte {
            case UInt8(ascii: "\""): next = .afterItem
            case UInt8(ascii: "\\"): next = .quotedPair
            default: next = HTTPByteClass.isFieldValue(byte) ? .quotedValue : nil
            }
        case .quotedPair:
            next = HTTPByteClass.isFieldValue(byte) ? .quotedValue : nil
        }
        guard let next else { return .code(.invalidChunkExtension) }
        state = .extension(next)
        return nil
    }

    /// A chunk-size line ended just before `offset`: start the data, or the trailers after
    /// the last chunk.
    private mutating func chunkLineEnded(at offset: Int) -> HTTPParseError? {
        if chunkSize == 0 {
            state = .trailers(HTTPHeadScanner(trailersAt: offset, limits: limits))
            return nil
        }
        let (total, overflow) = bodyBytes.addingReportingOverflow(chunkSize)
        if overflow { return .code(.invalidChunkSize) }
        if let maxBodySize = limits.maxBodySize, total > maxBodySize { return .code(.bodyTooLarge) }
        bodyBytes = total
        state = .data(remaining: chunkSize)
        return nil
    }
}
