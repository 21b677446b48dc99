import HTTP
import Reactor

extension HTTPResponder {
    /// Calls the responder in-process, without a socket, the way the server would:
    /// builds the request, runs the handler on `loop`, and turns a thrown
    /// ``HTTPResponseError`` into its response, an ``HTTPServerError`` into FastAPI's shape
    /// (as a service's server words it), anything else into a 500.
    ///
    /// For tests and for in-process callers; `ServiceResponder` never throws anyway.
    public func call(
        _ method: HTTPMethod, _ target: String, headers: HTTPHeaders = [:], body: [UInt8] = [], on loop: EventLoop
    ) async -> HTTPServerResponse {
        var headers = headers
        if !body.isEmpty && !headers.contains(name: "Content-Length") {
            headers.add(name: "Content-Length", value: String(body.count))
        }
        let request = HTTPServerRequest(
            head: HTTPRequestHead(method: method, target: target, headers: headers),
            body: HTTPRequestBody(bytes: body), remoteAddress: SocketAddress(numericHost: "127.0.0.1", port: 40000),
            loop: loop)
        do {
            return try await withTaskExecutorPreference(loop) { @concurrent in try await self.respond(to: request) }
        } catch let error as HTTPServerError {
            return FastAPIErrorRenderer().response(for: error)
        } catch let error as any HTTPResponseError {
            return error.response
        } catch {
            return ServiceError.internalError.response
        }
    }
}

extension HTTPServerResponse {
    /// The body bytes of a `.bytes` response (empty for others): for tests.
    public var bodyBytes: [UInt8] {
        if case .bytes(let bytes) = body { return bytes }
        return []
    }

    /// The body parsed as JSON, nil when it is not JSON.
    public var jsonBody: JSONValue? { try? JSONParser.parse(bodyBytes) }
}
