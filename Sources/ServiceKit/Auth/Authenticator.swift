import AuthToken
import HTTP

/// A user's role in the user database (`users.role`), granted only by an operator.
public enum UserRole: String, Sendable, Equatable {
    case user
    case admin
}

/// The caller a verified token names, as the token says it.
public struct AuthContext: Sendable, Equatable {
    public let userID: Int64
    public let email: String
    /// The role when the token was issued: a hint that spares a confirmation when it says
    /// `user`; an `admin` claim is confirmed before it grants anything (``TokenConfirmer``).
    public let claimedRole: UserRole
    /// The user's token version when the token was issued.
    public let tokenVersion: Int64

    public init(userID: Int64, email: String, claimedRole: UserRole, tokenVersion: Int64) {
        self.userID = userID
        self.email = email
        self.claimedRole = claimedRole
        self.tokenVersion = tokenVersion
    }
}

/// Tells whether a verified token is still current and what the caller's role is now.
///
/// The signature proves who issued a token, not that nothing changed since: a password,
/// email or role change bumps the user's token version, and a deletion removes the user.
/// The user service answers from its database (``UserService``); the other services ask
/// the user service (``RemoteTokenConfirmer``), only where an admin right is at stake.
public protocol TokenConfirmer: Sendable {
    /// The caller's current role, or nil when the token is revoked (no such user, or an
    /// older token version).
    /// - Throws: ``ServiceError`` 503 when the answer cannot be had.
    func currentRole(of caller: AuthContext, authorization: String) async throws(ServiceError) -> UserRole?
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
///   (401), callers touch only their own records (403), ``authorizeAdmin(_:)`` needs a
///   caller whose role is `admin` now, confirmed through ``confirmer`` (403; 401 when the
///   token was revoked).
/// - `AUTH_REQUIRED=false`: a token is optional, but a token that is sent is verified (401
///   when bad) and still limits the caller to their own data (403). Movie writes stay
///   open, as in the seed (admin rights are checked only when auth is required); a bad
///   token is still a 401. Reads of everyone's data (``authorizeAdminIfKnown(_:)``) need an
///   admin as soon as a caller is known.
///
/// Trade-off, written down in docs/SECURITY.md: a user's own reads and writes are granted
/// on the signature alone (no round trip per request), so a revoked token keeps working
/// for its own user's data until it expires (`TOKEN_TTL`); admin rights never come from a
/// signature alone.
public struct Authenticator: Sendable {
    public let signer: TokenSigner?
    public let isRequired: Bool
    /// Confirms admin claims; nil trusts the signed claim (only in-process tests that start
    /// no user service do this: every executable is given one).
    public let confirmer: (any TokenConfirmer)?

    /// - Parameters:
    ///   - secret: `AUTH_SECRET`; nil or empty means no token can be verified (every token
    ///     is then refused, and with `required` every protected call is a 401).
    public init(secret: String?, required: Bool, confirmer: (any TokenConfirmer)? = nil) {
        if let secret, !secret.isEmpty { signer = TokenSigner(secret: secret) } else { signer = nil }
        isRequired = required
        self.confirmer = confirmer
    }

    static let invalidCredentials = ServiceError.unauthorized("Invalid authentication credentials")
    static let revoked = ServiceError.unauthorized("Token revoked")
    static let adminRequired = ServiceError.forbidden("Admin privileges required")

    /// The verified caller, nil when no token was sent.
    /// - Throws: ``ServiceError`` 401 for a malformed, forged or expired token.
    public func authenticate(_ request: HTTPServerRequest) throws(ServiceError) -> AuthContext? {
        guard let header = request.headers["Authorization"] else { return nil }
        guard header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw Self.invalidCredentials
        }
        let token = header.dropFirst(7).trimmingPrefix(while: { $0 == " " })
        guard let signer else { throw Self.invalidCredentials }
        let claims: TokenClaims
        do {
            claims = try signer.verify(token)
        } catch {
            throw ServiceError.unauthorized(error.code == .expired ? "Token expired" : "Invalid authentication credentials")
        }
        guard let userID = claims.userID, let role = UserRole(rawValue: claims.role) else { throw Self.invalidCredentials }
        return AuthContext(userID: userID, email: claims.email, claimedRole: role, tokenVersion: claims.version)
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

    /// For movie writes: with `AUTH_REQUIRED=true`, a caller who is an admin now.
    /// - Throws: 401 as ``authorizeCaller(_:)``, or for a revoked token; 403 when the caller
    ///   is not an admin; 503 when the admin claim cannot be confirmed.
    public func authorizeAdmin(_ request: HTTPServerRequest) async throws(ServiceError) {
        guard let context = try authorizeCaller(request), isRequired else { return }
        try await confirmAdmin(context, request)
    }

    /// For reads of everyone's data (all users, who added a movie): an admin whenever a
    /// caller is known (always with `AUTH_REQUIRED=true`; with `false`, when a token is sent).
    /// - Throws: as ``authorizeAdmin(_:)``.
    public func authorizeAdminIfKnown(_ request: HTTPServerRequest) async throws(ServiceError) {
        guard let context = try authorizeCaller(request) else { return }
        try await confirmAdmin(context, request)
    }

    /// A `user` claim is refused at once; an `admin` claim is confirmed against the user
    /// database, so a stale token whose role was revoked since grants nothing.
    private func confirmAdmin(_ context: AuthContext, _ request: HTTPServerRequest) async throws(ServiceError) {
        guard context.claimedRole == .admin else { throw Self.adminRequired }
        guard let confirmer else { return }
        let authorization = request.headers["Authorization"] ?? ""
        guard let current = try await confirmer.currentRole(of: context, authorization: authorization) else {
            throw Self.revoked
        }
        guard current == .admin else { throw Self.adminRequired }
    }
}
