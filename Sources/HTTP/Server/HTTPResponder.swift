/// Something that answers HTTP requests: a router, a service, the gateway.
public protocol HTTPResponder: Sendable {
    /// Answers `request`. Errors that conform to ``HTTPResponseError`` become their response;
    /// any other error becomes a 500 with a generic body (never the error's text).
    /// `consuming`: the server hands each request over, so that a responder that adds to it
    /// (the router's path parameters, a service's request id) changes it in place, not a copy.
    func respond(to request: consuming HTTPServerRequest) async throws -> HTTPServerResponse
}

/// An error that knows the HTTP response it stands for.
public protocol HTTPResponseError: Error {
    var status: HTTPStatus { get }
    /// Extra headers (`Allow`, `Retry-After`, ...).
    var headers: HTTPHeaders { get }
    /// The JSON body, FastAPI's shape: `{"detail": ...}`.
    var jsonBody: [UInt8] { get }
}

extension HTTPResponseError {
    public var headers: HTTPHeaders { [:] }

    /// The response this error stands for.
    public var response: HTTPServerResponse {
        var response = HTTPServerResponse(status: status, headers: headers, body: .bytes(jsonBody))
        response.headers.replaceOrAdd(.contentType, value: "application/json")
        return response
    }
}

/// A plain `{"detail": "..."}` error: the common case of ``HTTPResponseError``.
public struct HTTPError: HTTPResponseError, CustomStringConvertible {
    public let status: HTTPStatus
    public let detail: String
    public let headers: HTTPHeaders

    public init(_ status: HTTPStatus, detail: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.detail = detail
        self.headers = headers
    }

    public var jsonBody: [UInt8] {
        var body = Array(#"{"detail":"#.utf8)
        JSONText.appendString(detail, to: &body)
        body.append(UInt8(ascii: "}"))
        return body
    }

    public var description: String { "\(status.code) \(detail)" }
}

/// Minimal JSON text helpers for the HTTP layer's own error bodies (the services use a
/// full JSON encoder; the router and server need only strings).
public enum JSONText {
    /// Appends `string` as a JSON string literal, escaping quotes, backslashes and controls.
    public static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
