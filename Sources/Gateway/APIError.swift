import HTTP
import Telemetry

/// An answer the gateway gives by itself, in docs/API.md's error shape: `{"detail": "..."}`
/// with `Content-Type: application/json` (a missing route, a refused token, an upstream that
/// is down or late, a body over the limit).
struct APIError: HTTPResponseError, CustomStringConvertible {
    let status: HTTPStatus
    let detail: String
    let headers: HTTPHeaders

    init(_ status: HTTPStatus, detail: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.detail = detail
        self.headers = headers
    }

    /// The HTTP layer's own answer (a body the server refused, a timeout), worded the same way.
    init(_ error: HTTPServerError) {
        self.init(error.status, detail: error.message, headers: error.headers)
    }

    var jsonBody: [UInt8] { APIErrorRenderer.jsonBody(detail: detail) }

    var response: HTTPServerResponse {
        var response = HTTPServerResponse(status: status, headers: headers, body: .bytes(jsonBody))
        response.headers.replaceOrAdd(.contentType, value: "application/json")
        return response
    }

    var description: String { "\(status.code) \(detail)" }
}

/// Words the server's own answers (a malformed request, a header timeout) as the gateway's:
/// `{"detail": "<message>"}`.
struct APIErrorRenderer: HTTPErrorRenderer {
    func render(_ error: HTTPServerError) -> HTTPErrorBody {
        HTTPErrorBody(contentType: "application/json", bytes: Self.jsonBody(detail: error.message))
    }

    static func jsonBody(detail: String) -> [UInt8] {
        var body = Array(#"{"detail":"#.utf8)
        JSONText.appendString(detail, to: &body)
        body.append(UInt8(ascii: "}"))
        return body
    }
}
