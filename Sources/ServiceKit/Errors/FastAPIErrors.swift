import HTTP

/// An error that answers with a JSON body in FastAPI's shape, `{"detail": ...}` (see
/// docs/API.md): ``ServiceError`` and the services' own error types.
public protocol JSONResponseError: HTTPResponseError {
    var status: HTTPStatus { get }
    /// Extra fields (`Allow`, `Retry-After`, `WWW-Authenticate`, ...).
    var headers: HTTPHeaders { get }
    var jsonBody: [UInt8] { get }
}

extension JSONResponseError {
    public var headers: HTTPHeaders { [:] }

    public var response: HTTPServerResponse {
        var response = HTTPServerResponse(status: status, headers: headers, body: .bytes(jsonBody))
        response.headers.replaceOrAdd(.contentType, value: "application/json")
        return response
    }
}

/// Words the HTTP layer's own answers (``HTTPServerError``) in FastAPI's shape: `{"detail":
/// "<message>"}`, and a path parameter of the wrong type as FastAPI's 422 list,
/// `{"detail":[{"loc":["path",name],"msg":...,"type":"int_parsing","input":...}]}`
/// (`greater_than` with `"ctx":{"gt":0}` for an id that is not positive). The services give
/// it to their server and use it for what their router throws.
public struct FastAPIErrorRenderer: HTTPErrorRenderer {
    public init() {}

    public func render(_ error: HTTPServerError) -> HTTPErrorBody {
        HTTPErrorBody(contentType: "application/json", bytes: Self.jsonBody(of: error))
    }

    static func jsonBody(of error: HTTPServerError) -> [UInt8] {
        guard case .invalidPathParameter(let issue) = error.reason else {
            var out = Array(#"{"detail":"#.utf8)
            JSONWriter.appendString(error.message, to: &out)
            out.append(UInt8(ascii: "}"))
            return out
        }
        var out = Array(#"{"detail":[{"loc":["path","#.utf8)
        JSONWriter.appendString(issue.name, to: &out)
        out.append(contentsOf: Array(#"],"msg":"#.utf8))
        JSONWriter.appendString(issue.message, to: &out)
        switch issue.kind {
        case .missing:
            out.append(contentsOf: Array(#","type":"missing"}]}"#.utf8))
        case .notAnInteger:
            out.append(contentsOf: Array(#","type":"int_parsing","input":"#.utf8))
            JSONWriter.appendString(issue.input, to: &out)
            out.append(contentsOf: Array("}]}".utf8))
        case .notPositive:
            out.append(contentsOf: Array(#","type":"greater_than","input":"#.utf8))
            JSONWriter.appendString(issue.input, to: &out)
            out.append(contentsOf: Array(#","ctx":{"gt":0}}]}"#.utf8))
        }
        return out
    }
}
