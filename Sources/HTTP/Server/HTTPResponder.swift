/// Something that answers HTTP requests: a router, a service, the gateway.
public protocol HTTPResponder: Sendable {
    /// Answers `request`. Errors that conform to ``HTTPResponseError`` become their response,
    /// an ``HTTPServerError`` is worded by the server's ``HTTPErrorRenderer``, and any other
    /// error becomes a 500 (``HTTPServerError/Reason/handlerFailed``, never the error's text).
    /// `consuming`: the server hands each request over, so that a responder that adds to it
    /// (the router's path parameters, a service's request id) changes it in place, not a copy.
    func respond(to request: consuming HTTPServerRequest) async throws -> HTTPServerResponse
}

/// An error that knows the HTTP response it stands for (a service's own error type, whose
/// body is in the product's format).
public protocol HTTPResponseError: Error {
    var response: HTTPServerResponse { get }
}
