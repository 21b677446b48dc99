/// Words the answers the HTTP layer gives by itself (``HTTPServerError``): the body and its
/// content type. The server takes one from ``HTTPServerConfiguration/errorRenderer``, so
/// that a product's error format (FastAPI's, say) stays the product's.
public protocol HTTPErrorRenderer: Sendable {
    /// The body and content type of the answer to `error`; its status and fields
    /// (``HTTPServerError/status``, ``HTTPServerError/headers``) are the error's.
    func render(_ error: HTTPServerError) -> HTTPErrorBody
}

/// What an ``HTTPErrorRenderer`` makes of an error.
public struct HTTPErrorBody: Sendable {
    public var contentType: String
    public var bytes: [UInt8]

    public init(contentType: String, bytes: [UInt8]) {
        self.contentType = contentType
        self.bytes = bytes
    }
}

/// The server's default: the error's ``HTTPServerError/message`` as plain text.
public struct PlainTextErrorRenderer: HTTPErrorRenderer {
    public init() {}

    public func render(_ error: HTTPServerError) -> HTTPErrorBody {
        HTTPErrorBody(contentType: "text/plain; charset=utf-8", bytes: Array(error.message.utf8))
    }
}
