import Postgres

/// How long a service's database queries may take: `DB_QUERY_TIMEOUT` on our side (the
/// request is answered 504 and the statement cancelled when it passes) and
/// `DB_STATEMENT_TIMEOUT` on the server's (the backstop for a cancel that cannot get there).
///
/// Both default to 1 s: a request that depends on a hung database is answered well within
/// the gateway's upstream timeout, and a statement of this system that runs longer than a
/// second is a bug to fix, not a wait to allow.
public struct DatabaseTimeouts: Sendable, Hashable {
    public var query: Duration
    /// nil: no `statement_timeout`.
    public var statement: Duration?

    public init(query: Duration = .seconds(1), statement: Duration? = .seconds(1)) {
        self.query = query
        self.statement = statement
    }

    /// Reads ``Setting/dbQueryTimeout`` and ``Setting/dbStatementTimeout`` (0 turns the
    /// statement timeout off; a query timeout of 0 keeps the default, since every query
    /// needs a deadline).
    public init(configuration: ServiceConfiguration) {
        self.init()
        if let query = configuration.duration("DB_QUERY_TIMEOUT"), query > .zero { self.query = query }
        if let statement = configuration.duration("DB_STATEMENT_TIMEOUT") {
            self.statement = statement > .zero ? statement : nil
        }
    }

    /// `configuration` with these timeouts.
    public func applied(to configuration: PostgresConfiguration) -> PostgresConfiguration {
        var configuration = configuration
        configuration.queryTimeout = query
        configuration.statementTimeout = statement
        return configuration
    }
}

extension Setting {
    public static let dbQueryTimeout = Setting(
        "DB_QUERY_TIMEOUT", kind: .duration, default: "1s",
        help: "Client-side deadline of each database query, pool wait included (then 504 and a cancel).")
    public static let dbStatementTimeout = Setting(
        "DB_STATEMENT_TIMEOUT", kind: .duration, default: "1s",
        help: "PostgreSQL statement_timeout set on every connection (0: none).")
}
