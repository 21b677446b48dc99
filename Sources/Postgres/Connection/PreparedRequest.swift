/// Statements checked and encoded before they reach a connection, so that a bad parameter
/// fails the caller and never leaves a half-sent request on the wire.
struct PreparedRequest: Sendable {
    struct Statement: Sendable {
        let sql: String
        let parameters: EncodedParameters
    }

    let statements: [Statement]

    init(_ statements: [PostgresStatement]) throws(PostgresError) {
        guard !statements.isEmpty else {
            throw PostgresError(.invalidParameter, message: "a request needs at least one statement")
        }
        var encoded: [Statement] = []
        encoded.reserveCapacity(statements.count)
        for statement in statements {
            if statement.sql.utf8.contains(0) {
                throw PostgresError(.invalidParameter, message: "the SQL text contains a NUL byte")
            }
            encoded.append(Statement(sql: statement.sql, parameters: try EncodedParameters(statement.parameters)))
        }
        self.statements = encoded
    }
}

/// What a statement returned: its rows (or command tag), or the server's error for it.
public typealias PostgresStatementResult = Result<PostgresRows, PostgresError>
