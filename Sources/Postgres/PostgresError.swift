/// Every error the Postgres module throws: one struct with an extensible ``Code``, as every
/// Marquee module has, so that callers match on `error.code == .uniqueViolation` and new
/// codes never break them.
///
/// `description` carries the server's message but never SQL text or parameters (they may
/// hold personal data); ``debugDescription`` adds the server's detail and hint.
public struct PostgresError: Error, Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong. Server errors with a SQLSTATE we have no name for are ``server``;
    /// ``PostgresError/sqlState`` always has the five characters.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case uniqueViolation, foreignKeyViolation, notNullViolation, checkViolation
            case syntaxError, undefinedTable, undefinedColumn, queryCanceled
            case serializationFailure, deadlockDetected, invalidTextRepresentation
            case server
            case connectionFailed, connectionClosed, poolExhausted, poolTimeout, queryTimeout
            case typeMismatch, unexpectedNull, columnNotFound, invalidURL, invalidParameter, shutdown
            case protocolViolation
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// 23505: a UNIQUE or PRIMARY KEY constraint refused the row.
        public static let uniqueViolation = Code(.uniqueViolation)
        /// 23503.
        public static let foreignKeyViolation = Code(.foreignKeyViolation)
        /// 23502.
        public static let notNullViolation = Code(.notNullViolation)
        /// 23514.
        public static let checkViolation = Code(.checkViolation)
        /// 42601.
        public static let syntaxError = Code(.syntaxError)
        /// 42P01.
        public static let undefinedTable = Code(.undefinedTable)
        /// 42703.
        public static let undefinedColumn = Code(.undefinedColumn)
        /// 57014: the statement timeout (or a cancel request) stopped the statement.
        public static let queryCanceled = Code(.queryCanceled)
        /// 40001.
        public static let serializationFailure = Code(.serializationFailure)
        /// 40P01.
        public static let deadlockDetected = Code(.deadlockDetected)
        /// 22P02: a parameter's text is not valid for the column's type (`'abc'::int`).
        public static let invalidTextRepresentation = Code(.invalidTextRepresentation)
        /// Any other server error; see ``PostgresError/sqlState``.
        public static let server = Code(.server)
        /// No connection could be made (server down, refused, authentication, timeout). While
        /// the server is down the pool fails new queries with this code at once.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection broke while the query was in flight: it may or may not have run.
        public static let connectionClosed = Code(.connectionClosed)
        /// The pool's wait queue is full.
        public static let poolExhausted = Code(.poolExhausted)
        /// The query waited longer than the pool's wait timeout for a connection.
        public static let poolTimeout = Code(.poolTimeout)
        /// The query passed its client-side deadline (``PostgresConfiguration/queryTimeout``)
        /// without an answer: the caller is answered at once and the server is asked to
        /// cancel the statement. It may or may not have run.
        public static let queryTimeout = Code(.queryTimeout)
        /// A column's type cannot be decoded as the Swift type asked for.
        public static let typeMismatch = Code(.typeMismatch)
        /// A NULL was decoded as a non-optional type.
        public static let unexpectedNull = Code(.unexpectedNull)
        /// No column with that name or index.
        public static let columnNotFound = Code(.columnNotFound)
        /// The connection URL cannot be used.
        public static let invalidURL = Code(.invalidURL)
        /// A parameter cannot be sent (text with a NUL byte).
        public static let invalidParameter = Code(.invalidParameter)
        /// The client or pool was shut down.
        public static let shutdown = Code(.shutdown)
        /// The server sent something libpq or we did not expect (a bug somewhere).
        public static let protocolViolation = Code(.protocolViolation)

        /// The code for a SQLSTATE.
        public static func forSQLState(_ sqlState: String) -> Code {
            switch sqlState {
            case "23505": .uniqueViolation
            case "23503": .foreignKeyViolation
            case "23502": .notNullViolation
            case "23514": .checkViolation
            case "42601": .syntaxError
            case "42P01": .undefinedTable
            case "42703": .undefinedColumn
            case "57014": .queryCanceled
            case "40001": .serializationFailure
            case "40P01": .deadlockDetected
            case "22P02": .invalidTextRepresentation
            default: .server
            }
        }

        public var description: String {
            switch base {
            case .uniqueViolation: "unique violation"
            case .foreignKeyViolation: "foreign key violation"
            case .notNullViolation: "not-null violation"
            case .checkViolation: "check violation"
            case .syntaxError: "syntax error"
            case .undefinedTable: "undefined table"
            case .undefinedColumn: "undefined column"
            case .queryCanceled: "query canceled"
            case .serializationFailure: "serialization failure"
            case .deadlockDetected: "deadlock detected"
            case .invalidTextRepresentation: "invalid text representation"
            case .server: "server error"
            case .connectionFailed: "connection failed"
            case .connectionClosed: "connection closed"
            case .poolExhausted: "pool exhausted"
            case .poolTimeout: "pool wait timed out"
            case .queryTimeout: "query deadline passed"
            case .typeMismatch: "type mismatch"
            case .unexpectedNull: "unexpected NULL"
            case .columnNotFound: "column not found"
            case .invalidURL: "invalid URL"
            case .invalidParameter: "invalid parameter"
            case .shutdown: "shut down"
            case .protocolViolation: "protocol violation"
            }
        }
    }

    public let code: Code
    /// The server's SQLSTATE (`"23505"`), or nil for errors raised on our side.
    public let sqlState: String?
    /// The server's primary message, or ours. Never SQL text or parameter values.
    public let message: String
    /// The server's DETAIL and HINT fields, when present (may quote row values).
    public let detail: String?
    /// For decoding errors: the column, the Swift type asked for and the column's type.
    public let column: String?
    public let expectedType: String?
    public let actualType: String?

    public init(
        _ code: Code, message: String, sqlState: String? = nil, detail: String? = nil,
        column: String? = nil, expectedType: String? = nil, actualType: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.column = column
        self.expectedType = expectedType
        self.actualType = actualType
    }

    /// A decoding error for a column whose type does not fit the Swift type.
    static func typeMismatch(column: String, expected: String, actual: String) -> PostgresError {
        PostgresError(
            .typeMismatch, message: "column '\(column)' of type \(actual) cannot be decoded as \(expected)",
            column: column, expectedType: expected, actualType: actual)
    }

    public var description: String {
        if let sqlState { return "PostgreSQL \(code) (\(sqlState)): \(message)" }
        return "PostgreSQL \(code): \(message)"
    }

    public var debugDescription: String {
        guard let detail else { return description }
        return "\(description) [\(detail)]"
    }
}
