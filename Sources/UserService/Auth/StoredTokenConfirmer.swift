import ServiceKit

/// The user service's own ``TokenConfirmer``: a token is current while its user exists and
/// its version is the user's token version (bumped by a password, email or role change).
/// Answers from `userdb`, so the other services ask this one (``RemoteTokenConfirmer``
/// calls `GET /api/auth/me`, which is answered through here).
struct StoredTokenConfirmer: TokenConfirmer {
    let store: UserStore

    func currentRole(of caller: AuthContext, authorization: String) async throws(ServiceError) -> UserRole? {
        try await currentUser(of: caller)?.role
    }

    /// The caller's record when the token is current, nil when it was revoked.
    /// - Throws: ``ServiceError`` as ``UserService/mapError`` answers the database's failure
    ///   (503 when it cannot answer, 504 when the query ran out of time).
    func currentUser(of caller: AuthContext) async throws(ServiceError) -> User? {
        let user: User?
        do {
            user = try await store.find(id: caller.userID)
        } catch {
            throw UserService.mapError(error) as? ServiceError ?? ServiceError.serviceUnavailable("Database unavailable")
        }
        guard let user, user.tokenVersion == caller.tokenVersion else { return nil }
        return user
    }
}
