/// A transaction in progress, on a connection that ``PostgresPool/withTransaction(_:)``
/// holds for it. Statements run in order on that connection; use it only inside the body.
public struct PostgresTransaction: Sendable {
    let connection: PostgresConnection
    /// Each statement's client-side deadline, from when it is sent.
    let queryTimeout: Duration

    /// Runs one parameterized statement inside the transaction.
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> PostgresRows {
        try await execute([PostgresStatement(sql, parameters)])[0].get()
    }

    /// Several statements in one round trip; after a failure the transaction is aborted and
    /// later statements fail too (SQLSTATE 25P02), as PostgreSQL does.
    public func pipeline(_ statements: [PostgresStatement]) async throws -> [PostgresStatementResult] {
        try await execute(statements)
    }

    private func execute(_ statements: [PostgresStatement]) async throws -> [PostgresStatementResult] {
        let request = try PreparedRequest(statements)
        let connection = self.connection
        let timeout = UInt64(queryTimeout.nanoseconds)
        return try await withUnsafeThrowingContinuation { continuation in
            // Not `executeNowOrSoon`: on the loop, the usual case, this makes no closure.
            if connection.loop.inLoop {
                connection.submit0(request, deadline: connection.loop.now &+ timeout, continuation)
            } else {
                connection.loop.execute {
                    connection.submit0(request, deadline: connection.loop.now &+ timeout, continuation)
                }
            }
        }
    }
}
