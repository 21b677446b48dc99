import HTTP

/// Default request body limit (API.md: 1 MiB).
public let defaultMaxBodyBytes = 1 << 20

extension HTTPServerRequest {
    /// The body as a JSON object, FastAPI's way:
    /// - 415 `Content-Type must be application/json` for any other declared media type
    ///   (`application/json`, with or without parameters, and `application/*+json` are
    ///   accepted; curl's `-d` without `-H` sends form encoding and gets the 415);
    /// - no `Content-Type` at all: read as JSON, as FastAPI does;
    /// - an empty body: 422 `[{"type":"missing","loc":["body"],"msg":"Field required"}]`;
    /// - 400 `Malformed JSON: <reason> at byte N` or `Request body must be a JSON object`;
    /// - 413 over `maxBytes`.
    public func decodeJSONObject(maxBytes: Int = defaultMaxBodyBytes) async throws -> JSONObject {
        try checkJSONContentType()
        let bytes = try await body.collect(upTo: maxBytes)
        return try Self.decodeJSONObject(bytes)
    }

    /// The 415 check alone (for handlers that stream).
    public func checkJSONContentType() throws(ServiceError) {
        guard let contentType = headers["Content-Type"] else { return }
        if !Self.isJSONMediaType(contentType) {
            throw ServiceError(.unsupportedMediaType, detail: "Content-Type must be application/json")
        }
    }

    /// Decodes collected body bytes (pure; the rules of ``decodeJSONObject(maxBytes:)``).
    public static func decodeJSONObject(_ bytes: [UInt8]) throws(ServiceError) -> JSONObject {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            throw ServiceError.validation([ValidationIssue(.missing, location: ["body"], message: Messages.missing)])
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw ServiceError.badRequest("Malformed JSON: \(error)")
        }
        guard case .object(let object) = value else {
            throw ServiceError.badRequest("Request body must be a JSON object")
        }
        return object
    }

    /// `application/json`, `application/json; charset=utf-8`, `application/problem+json`...
    static func isJSONMediaType(_ value: String) -> Bool {
        // What clients send nearly always, decided without splitting or lowercasing.
        if value == "application/json" { return true }
        let mediaType = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let trimmed = mediaType.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
        var lowered = trimmed.lowercased()
        while lowered.last == " " || lowered.last == "\t" { lowered.removeLast() }
        guard lowered.hasPrefix("application/") else { return false }
        let subtype = lowered.dropFirst("application/".count)
        return subtype == "json" || subtype.hasSuffix("+json")
    }
}
