import AuthToken
import COpenSSL
import HTTP

/// A client's `Idempotency-Key` (IETF draft "The Idempotency-Key HTTP Header Field"), with
/// the fingerprint of the request it came with.
///
/// A `POST` that creates something may carry a key; the service stores it with the created
/// resource's id in the same statement as the write (``IdempotencyKeyStore``), so a request
/// sent again with that key (a client retry, or the gateway resending it to another instance
/// after the first died) is answered from the first one instead of creating a second
/// resource. The key is the client's choice: 1 to ``maxLength`` printable ASCII characters.
public struct IdempotentRequest: Sendable, Equatable {
    public static let headerName = "Idempotency-Key"
    /// Stripe's bound; a UUID is 36.
    public static let maxLength = 255

    /// The key as sent.
    public let key: String
    /// SHA-256 of method, path, caller and body (base64url): what the key was used for,
    /// so that the key replayed by another caller, or with another body, is refused rather
    /// than answered with someone else's result.
    public let fingerprint: String

    public init(key: String, fingerprint: String) {
        self.key = key
        self.fingerprint = fingerprint
    }

    /// The request's key and fingerprint; nil when it carries no key.
    /// - Parameters:
    ///   - caller: the verified caller's user id (nil for an anonymous caller).
    ///   - body: the request's body bytes, as read.
    /// - Throws: 422 (FastAPI's list, at `["header", "idempotency-key"]`) for a key that is
    ///   empty, too long, not printable ASCII, or sent twice.
    public init?(_ request: HTTPServerRequest, caller: Int64?, body: [UInt8]) throws(ServiceError) {
        let values = request.headers.values(Self.headerName)
        guard let key = values.first else { return nil }
        try Self.validate(key, count: values.count)
        self.key = key
        fingerprint = Self.fingerprint(
            method: request.method.rawValue, path: String(request.head.path), caller: caller, body: body)
    }

    /// The checks of ``init(_:caller:body:)`` (pure).
    static func validate(_ key: String, count: Int = 1) throws(ServiceError) {
        let length = key.utf8.count
        if count > 1 {
            throw issue(.valueError, "Value error, send one Idempotency-Key")
        }
        if length == 0 {
            throw issue(.stringTooShort, "String should have at least 1 character", context: JSONObject(["min_length": .int(1)]))
        }
        guard key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            // Not echoed: it may hold anything.
            throw ServiceError.validation([
                ValidationIssue(
                    .valueError, location: location, message: "Value error, only printable ASCII characters are allowed")
            ])
        }
        if length > maxLength {
            throw issue(.stringTooLong, "String should have at most \(maxLength) characters", context: JSONObject(["max_length": .int(Int64(maxLength))]))
        }
        func issue(_ kind: ValidationIssue.Kind, _ message: String, context: JSONObject? = nil) -> ServiceError {
            ServiceError.validation([
                ValidationIssue(kind, location: location, message: message, input: .string(key), context: context)
            ])
        }
    }

    static let location: [ValidationIssue.LocationElement] = ["header", "idempotency-key"]

    /// 422: the key was first used by another caller or with another method, path or body
    /// (the draft's "Idempotency-Key is already used for a different request payload").
    public static let reused = ServiceError.validation([
        ValidationIssue(
            .valueError, location: location,
            message: "Value error, this Idempotency-Key was used for a different request")
    ])

    /// SHA-256 over the request's parts, each preceded by its length so that no two
    /// different requests run together into the same bytes; base64url (43 characters).
    /// The parts are fed to the digest one by one: the body is not copied.
    static func fingerprint(method: String, path: String, caller: Int64?, body: [UInt8]) -> String {
        // The context is freed at the end of this scope; every call gets buffers that live
        // for its duration. A built-in digest fails only when memory does.
        guard let context = EVP_MD_CTX_new() else { preconditionFailure("OpenSSL could not allocate a digest") }
        defer { EVP_MD_CTX_free(context) }
        var ok = EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1
        func feed(_ part: [UInt8]) {
            let framed = Array("\(part.count):".utf8)
            ok = ok && framed.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) } == 1
            ok = ok && part.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) } == 1
        }
        feed(Array(method.utf8))
        feed(Array(path.utf8))
        feed(Array((caller.map(String.init) ?? "-").utf8))
        feed(body)
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        ok = ok && digest.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) } == 1
        precondition(ok && length == 32, "OpenSSL could not compute a SHA-256 digest")
        return Base64.encodeURL(digest.prefix(32))
    }
}

extension HTTPServerRequest {
    /// The body as a JSON object (the rules of ``decodeJSONObject(maxBytes:)``) and the
    /// request's idempotency key, fingerprinted with that body: for handlers that create.
    /// - Parameter caller: the verified caller's user id, nil when anonymous.
    /// - Throws: as ``decodeJSONObject(maxBytes:)`` and ``IdempotentRequest/init(_:caller:body:)``.
    public func decodeJSONObjectAndKey(
        caller: Int64?, maxBytes: Int = defaultMaxBodyBytes
    ) async throws -> (object: JSONObject, idempotency: IdempotentRequest?) {
        try checkJSONContentType()
        let bytes = try await body.collect(upTo: maxBytes)
        let idempotency = try IdempotentRequest(self, caller: caller, body: bytes)
        return (try Self.decodeJSONObject(bytes), idempotency)
    }
}
