/// The body-length rules of RFC 9112 §6.3, applied to what `HTTPFieldSection` gathered.
enum HTTPMessageFraming {
    /// How a request's body is delimited.
    ///
    /// Stricter than the RFC where leniency would let two parsers disagree (smuggling):
    /// `Content-Length` with `Transfer-Encoding` is refused, not resolved in favour of the
    /// latter, and so is `Transfer-Encoding` in an HTTP/1.0 request.
    static func requestBody(
        _ fields: HTTPFieldSection.FramingFields, version: HTTPVersion, limits: HTTPParserLimits
    ) throws(HTTPParseError) -> HTTPBodyKind {
        let codings = fields.transferEncoding
        if codings.isPresent {
            if fields.contentLength != .absent { throw .code(.conflictingLengths) }
            guard version >= .http1_1, !codings.hasEmptyElement, codings.lastIsChunked, codings.chunkedCount == 1
            else { throw .code(.invalidTransferEncoding) }
            // `gzip, chunked`: well formed, but we would have to decode gzip (RFC 9112 §6.1 → 501).
            guard codings.codingCount == 1 else { throw .code(.unsupportedTransferEncoding) }
            return .chunked
        }
        return try lengthBody(fields.contentLength, limits: limits, otherwise: .none)
    }

    /// How a response's body is delimited, given the request it answers.
    ///
    /// HEAD responses, 1xx, 204 and 304 have no body whatever their fields say; a 2xx answer
    /// to CONNECT starts a tunnel, which we report as no body. `Content-Length` with
    /// `Transfer-Encoding` is refused (a gateway must not guess); a `Transfer-Encoding` that
    /// does not end in `chunked` means the body runs until close, as the RFC says.
    static func responseBody(
        _ fields: HTTPFieldSection.FramingFields, status: HTTPStatus, requestMethod: HTTPMethod,
        limits: HTTPParserLimits
    ) throws(HTTPParseError) -> HTTPBodyKind {
        if requestMethod == .HEAD || status.forbidsBody { return .none }
        if requestMethod == .CONNECT && status.code / 100 == 2 { return .none }
        let codings = fields.transferEncoding
        if codings.isPresent {
            if fields.contentLength != .absent { throw .code(.conflictingLengths) }
            guard !codings.hasEmptyElement, codings.chunkedCount <= 1, codings.chunkedCount == 0 || codings.lastIsChunked
            else { throw .code(.invalidTransferEncoding) }
            return codings.lastIsChunked ? .chunked : .untilClose
        }
        return try lengthBody(fields.contentLength, limits: limits, otherwise: .untilClose)
    }

    private static func lengthBody(
        _ contentLength: HTTPFieldSection.ContentLength, limits: HTTPParserLimits, otherwise: HTTPBodyKind
    ) throws(HTTPParseError) -> HTTPBodyKind {
        switch contentLength {
        case .absent:
            return otherwise
        case .invalid:
            throw .code(.invalidContentLength)
        case .value(let length):
            if let maxBodySize = limits.maxBodySize, length > maxBodySize { throw .code(.bodyTooLarge) }
            return length == 0 ? .none : .length(length)
        }
    }
}
