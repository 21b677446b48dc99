import AuthToken
import HTTP

/// The caller a verified token names.
public struct AuthContext: Sendable, Equatable {
    public let userID: Int64
    public let email: String
    public let isAdmin: Bool
}

/// Who may do what, as API.md's Authentication section fixes.
///
/// Decision (documented for the gateway and deploy): services derive the caller only from
/// the `Authorization: Bearer` token, which they verify themselves with `AUTH_SECRET`;
/// they do not trust `X-User-ID`, because in development the services are reachable on
/// their own ports and a client could set that header. The gateway must therefore pass
/// `Authorization` upstream (it may also set `X-User-ID` for logs; services ignore it).
///
/// - `AUTH_REQUIRED=true`: ``requireUser(_:)``/``authorizeSelf(_:userID:)`` need a token
///   (401), callers touch only their own records (403), ``authorizeAdmin(_:)`` needs an
///   email in `ADMIN_EMAILS` (403).
/// - `AUTH_REQUIRED=false`: a token is optional, but a token that is sent is verified (401
///   when bad) and still limits the caller to their own data (403). Movie writes stay
///   open, as in the seed (admin rights are checked only when auth is required); a bad
///   token is still a 401.
public struct Authenticator: Sendable {
    public let signer: TokenSigner?
    public let isRequired: Bool
    public let adminEmails: Set<String>

    /// - Parameters:
    ///   - secret: `AUTH_SECRET`; nil or empty means no token can be verified (every token
    ///     is then refused, and with `required` every protected call is a 401).
    ///   - adminEmails: compared case-insensitively.
    public init(secret: String?, required: Bool, adminEmails: [String] = []) {
        if let secret, !secret.isEmpty { signer = TokenSigner(secret: secret) } else { signer = nil }
        isRequired = required
        self.adminEmails = Set(adminEmails.map { $0.lowercased() })
    }

    /// The verified caller, nil when no token was sent.
    /// - Throws: ``ServiceError`` 401 for a malformed, forged or expired token.
    public func authenticate(_ request: HTTPServerRequest) throws(ServiceError) -> AuthContext? {
        guard let header = request.headers["Authorization"] else { return nil }
        guard header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw ServiceError.unauthorized("Invalid authentication credentials")
        }
        let token = header.dropFirst(7).trimmingPrefix(while: { $0 == " " })
        guard let signer else { throw ServiceError.unauthorized("Invalid authentication credentials") }
        let claims: TokenClaims
        do {
            claims = try signer.verify(token)
        } catch {
            throw ServiceError.unauthorized(error.code == .expired ? "Token expired" : "Invalid authentication credentials")
        }
        guard let userID = claims.userID else { throw ServiceError.unauthorized("Invalid authentication credentials") }
        return AuthContext(userID: userID, email: claims.email,
                           isAdmin: adminEmails.contains(claims.email.lowercased()))
    }

    /// The caller, whatever `AUTH_REQUIRED` says (`GET /api/auth/me`).
    /// - Throws: 401 without a valid token.
    public func requireUser(_ request: HTTPServerRequest) throws(ServiceError) -> AuthContext {
        guard let context = try authenticate(request) else { throw ServiceError.unauthorized() }
        return context
    }

    /// For writes that need a signed-in caller when auth is required.
    /// - Throws: 401 when required and absent, or for a bad token.
    public func authorizeCaller(_ request: HTTPServerRequest) throws(ServiceError) -> AuthContext? {
        let context = try authenticate(request)
        if context == nil && isRequired { throw ServiceError.unauthorized() }
        return context
    }

    /// For a user's own record or watchlist.
    /// - Throws: 401 (required and absent, or bad token), 403 when the token names someone else.
    public func authorizeSelf(_ request: HTTPServerRequest, userID: Int64) throws(ServiceError) {
        guard let context = try authorizeCaller(request) else { return }
        if context.userID != userID { throw ServiceError.forbidden("Not allowed to access another user's data") }
    }

    /// For movie writes.
    /// - Throws: 401 as above; 403 when auth is required and the caller is not an admin.
    public func authorizeAdmin(_ request: HTTPServerRequest) throws(ServiceError) {
        guard let context = try authorizeCaller(request) else { return }
        if isRequired && !context.isAdmin { throw ServiceError.forbidden("Admin privileges required") }
    }
}
