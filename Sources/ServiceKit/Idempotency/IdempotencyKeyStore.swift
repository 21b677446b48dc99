import HTTP
import Postgres
import Reactor
import Synchronization

/// A service's table of idempotency keys: which resource each key created, for whom.
///
/// A key is inserted by the same statement (or transaction) as the resource it creates,
/// from the resource's `RETURNING` (see ``rememberClause(from:keyParameter:)``), so the two
/// commit together or not at all: there is no moment where the resource exists and its key
/// does not (a replay would create a second one) nor the reverse (a replay would find a key
/// for nothing). The key is the primary key: a second request with the same key, while the
/// first is uncommitted, waits in PostgreSQL's unique check and then fails with a unique
/// violation once the first commits (or goes on, when the first rolled back). That failure
/// is the signal to answer from the stored key (``perform(_:execute:replay:)``).
///
/// Keys are kept for ``lifetime`` and deleted by a periodic bounded `DELETE`
/// (``startExpiry(on:)``), not by the requests.
public final class IdempotencyKeyStore: Sendable {
    /// How long a key is honoured (Stripe's 24 hours); deleted within ``expiryInterval`` after.
    public static let lifetime: Duration = .seconds(24 * 3600)
    /// How often expired keys are deleted, and how many one `DELETE` removes at most.
    public static let expiryInterval: Duration = .seconds(60)
    public static let expiryBatch = 1000

    public let table: String
    public let database: PostgresClient
    private let expiryTask = Mutex<Task<Void, Never>?>(nil)

    /// - Parameter table: the service's table (``migration(version:table:)`` creates it).
    public init(table: String, database: PostgresClient) {
        self.table = table
        self.database = database
    }

    /// The migration that creates `table` (a fixed name of the service, never input).
    public static func migration(version: Int, table: String) -> Migration {
        Migration(
            version: version, name: "\(table)",
            statements: [
                """
                CREATE TABLE IF NOT EXISTS \(table) (
                    key text PRIMARY KEY,
                    fingerprint text NOT NULL,
                    resource_id bigint NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX IF NOT EXISTS \(table)_created_at_idx ON \(table) (created_at)",
            ])
    }

    /// The common table expression that stores a key with the `id` its statement created:
    /// `remembered AS (INSERT INTO <table> ... SELECT $k, $k+1, id FROM <source>)`, the key
    /// and fingerprint being parameters `keyParameter` and `keyParameter + 1`
    /// (``parameters(_:)``). PostgreSQL runs a data-modifying `WITH` once whether or not the
    /// main query reads it.
    public func rememberClause(from source: String, keyParameter: Int) -> String {
        """
        remembered AS (
            INSERT INTO \(table) (key, fingerprint, resource_id)
            SELECT $\(keyParameter), $\(keyParameter + 1), id FROM \(source)
        )
        """
    }

    /// The statement that stores a key for `resourceID` (inside the transaction that created it).
    public var rememberStatement: String {
        "INSERT INTO \(table) (key, fingerprint, resource_id) VALUES ($1, $2, $3::int8)"
    }

    /// The key and fingerprint, in the order ``rememberClause(from:keyParameter:)`` uses.
    public static func parameters(_ request: IdempotentRequest) -> [PostgresValue] {
        [.text(request.key), .text(request.fingerprint)]
    }

    /// What a stored key was used for.
    public struct Record: Sendable, Equatable {
        public let fingerprint: String
        public let resourceID: Int64
    }

    /// The stored record of `key`, nil when there is none.
    public func record(of key: String) async throws -> Record? {
        let rows = try await database.query("SELECT fingerprint, resource_id FROM \(table) WHERE key = $1", [.text(key)])
        guard let row = rows.first else { return nil }
        return Record(fingerprint: try row.decode(String.self, column: 0), resourceID: try row.decode(Int64.self, column: 1))
    }

    /// Runs `execute` (the write, which stores the key as it creates), or answers a request
    /// whose key is stored already: with `replay` of the resource it created when the
    /// fingerprint matches, with 422 (``IdempotentRequest/reused``) when it does not.
    ///
    /// A stored key shows as a conflict of the write: the key's unique violation, or the
    /// resource's own (an email taken by the first request), which the service may have
    /// turned into a 409 already. Only then is the key looked up, so a first request costs
    /// nothing more than its write. A conflict with no stored key is the service's to answer.
    /// - Parameters:
    ///   - request: the request's key, nil for a request without one (then `execute` alone).
    ///   - replay: the answer for the resource `id` the key created (the service's 201 with
    ///     the resource as it is now, or its 404 when the resource was deleted since).
    public func perform(
        _ request: IdempotentRequest?, execute: () async throws -> HTTPServerResponse,
        replay: (_ id: Int64) async throws -> HTTPServerResponse
    ) async throws -> HTTPServerResponse {
        guard let request else { return try await execute() }
        do {
            return try await execute()
        } catch where Self.isConflict(error) {
            guard let answer = try await previousAnswer(for: request, replay: replay) else { throw error }
            return answer
        }
    }

    /// The answer for a request whose key is stored (as in ``perform(_:execute:replay:)``),
    /// nil when the key is new: for a service that must look before it writes (a sign-up
    /// checks its email first, and would answer a replay 409).
    /// - Throws: ``IdempotentRequest/reused`` when the key was used for another request.
    public func previousAnswer(
        for request: IdempotentRequest, replay: (_ id: Int64) async throws -> HTTPServerResponse
    ) async throws -> HTTPServerResponse? {
        guard let record = try await record(of: request.key) else { return nil }
        guard record.fingerprint == request.fingerprint else { throw IdempotentRequest.reused }
        var response = try await replay(record.resourceID)
        response.headers.replaceOrAdd(name: Self.replayedHeader, value: "true")
        return response
    }

    /// Marks an answer that a stored key gave (Stripe's `Idempotent-Replayed`).
    public static let replayedHeader = "Idempotent-Replayed"

    static func isConflict(_ error: any Error) -> Bool {
        if let error = error as? PostgresError { return error.code == .uniqueViolation }
        if let error = error as? ServiceError { return error.code == .conflict }
        return false
    }

    // MARK: Expiry

    /// Deletes at most `limit` keys older than ``lifetime``, oldest first.
    /// - Returns: how many it deleted.
    @discardableResult
    public func deleteExpired(limit: Int = expiryBatch) async throws -> Int {
        let rows = try await database.query(
            """
            DELETE FROM \(table) WHERE key IN (
                SELECT key FROM \(table) WHERE created_at < now() - make_interval(secs => $1::int8)
                ORDER BY created_at LIMIT $2::int8
            )
            """,
            [.int(Int(Self.lifetime.components.seconds)), .int(limit)])
        return rows.rowsAffected
    }

    /// Starts deleting expired keys every ``expiryInterval`` on `loop`, a bounded number of
    /// batches each time (a backlog is worked off over several rounds); ``stopExpiry()``
    /// ends it. A failed round (database down) waits for the next.
    public func startExpiry(on loop: EventLoop) {
        let task = Task(executorPreference: loop) { [self] in
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: Self.expiryInterval)
                } catch {
                    return
                }
                for _ in 0..<10 {
                    guard let deleted = try? await deleteExpired(), deleted == Self.expiryBatch else { break }
                }
            }
        }
        expiryTask.withLock { $0 = task }
    }

    /// Stops the expiry task (before the database closes).
    public func stopExpiry() async {
        let task = expiryTask.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
    }
}
