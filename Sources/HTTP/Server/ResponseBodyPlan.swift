/// What a response puts on the wire after its head, for either protocol: whether a body may
/// and will be sent, its length when known, and its bytes or its writer.
struct ResponseBodyPlan {
    /// False for 1xx, 204 and 304, which have no body and so no framing (RFC 9110 §6.4.1).
    let bodyAllowed: Bool
    /// A body goes out: allowed, and not the answer to a HEAD.
    let sendsBody: Bool
    /// The body's length for `Content-Length`: nil when not allowed, or a stream of unknown length.
    let contentLength: Int?
    /// A whole body's bytes (empty for a stream).
    let bytes: [UInt8]
    /// A streamed body's writer.
    let streamWriter: (@Sendable @concurrent (HTTPBodyWriter) async throws -> Void)?

    @inline(__always)
    init(_ response: HTTPServerResponse, method: HTTPMethod) {
        bodyAllowed = !response.status.forbidsBody
        sendsBody = bodyAllowed && method != .HEAD
        switch response.body {
        case .empty:
            contentLength = bodyAllowed ? 0 : nil
            bytes = []
            streamWriter = nil
        case .bytes(let body):
            contentLength = bodyAllowed ? body.count : nil
            bytes = body
            streamWriter = nil
        case .stream(let length, let writer):
            contentLength = bodyAllowed ? length : nil
            bytes = []
            streamWriter = writer
        }
    }

    /// A stream whose end only the end of its framing can tell (chunked, or the connection's end).
    var isUndelimitedStream: Bool { bodyAllowed && streamWriter != nil && contentLength == nil }
}
