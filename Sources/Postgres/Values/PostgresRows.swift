import CLibPQ

/// Owns one libpq result and frees it with the last copy of the rows that read it.
///
/// Immutable once made: libpq's accessors only read a finished `PGresult`, so sharing it
/// between threads is safe (hence `@unchecked Sendable`).
final class PostgresResultStorage: @unchecked Sendable {
    let result: OpaquePointer
    let rowCount: Int
    let columnCount: Int

    init(_ result: OpaquePointer) {
        self.result = result
        rowCount = Int(PQntuples(result))
        columnCount = Int(PQnfields(result))
    }

    deinit { PQclear(result) }
}

/// The rows of one statement, decoded lazily from libpq's text format.
///
/// `rows[i].decode(Int.self, column: 0)`, `rows[i]["title", as: String.self]`, or
/// `for row in rows { ... }`. Commands without rows have `count == 0` and a ``commandTag``.
public struct PostgresRows: Sendable, RandomAccessCollection {
    let storage: PostgresResultStorage

    init(storage: PostgresResultStorage) { self.storage = storage }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.rowCount }
    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < storage.rowCount, "row index \(position) out of range")
        return PostgresRow(storage: storage, index: Int32(position))
    }

    /// The column names, in order.
    public var columns: [String] {
        (0..<storage.columnCount).map { String(cString: PQfname(storage.result, Int32($0))) }
    }

    /// The command tag (`INSERT 0 1`, `SELECT 3`, `BEGIN`).
    public var commandTag: String { String(cString: PQcmdStatus(storage.result)) }

    /// Rows inserted, updated, deleted or selected, from the command tag (0 when it has none).
    public var rowsAffected: Int { Int(String(cString: PQcmdTuples(storage.result))) ?? 0 }
}

/// One row of ``PostgresRows``; valid as long as you keep it (it retains the result).
public struct PostgresRow: Sendable {
    let storage: PostgresResultStorage
    let index: Int32

    /// The number of columns.
    public var count: Int { storage.columnCount }

    /// Decodes column `column` (0-based) as `T`.
    /// - Throws: ``PostgresError`` `.typeMismatch` when the column's type does not fit `T`,
    ///   `.unexpectedNull` for NULL into a non-optional, `.columnNotFound` for a bad index.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column: Int) throws(PostgresError) -> T {
        guard column >= 0, column < storage.columnCount else {
            throw PostgresError(.columnNotFound, message: "no column \(column) (the row has \(storage.columnCount))")
        }
        return try decode(T.self, at: Int32(column))
    }

    /// Decodes the column named `name` as `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column name: String) throws(PostgresError) -> T {
        // PQfnumber folds unquoted names to lower case, as SQL does: quote the name so that
        // it is looked up exactly as given.
        let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        let column = PQfnumber(storage.result, quoted)
        guard column >= 0 else { throw PostgresError(.columnNotFound, message: "no column named '\(name)'") }
        return try decode(T.self, at: column)
    }

    public subscript<T: PostgresDecodable>(column: Int, as type: T.Type) -> T {
        get throws(PostgresError) { try decode(T.self, column: column) }
    }

    public subscript<T: PostgresDecodable>(name: String, as type: T.Type) -> T {
        get throws(PostgresError) { try decode(T.self, column: name) }
    }

    private func decode<T: PostgresDecodable>(_ type: T.Type, at column: Int32) throws(PostgresError) -> T {
        let result = storage.result
        let cell = PostgresCell(
            result: result, row: index, column: column, dataType: PostgresDataType(oid: PQftype(result, column)))
        if PQgetisnull(result, index, column) != 0 { return try T.decodeNull(cell) }
        // Scoped: the bytes belong to the PGresult, which `storage` keeps alive for this call.
        let bytes = UnsafeRawBufferPointer(
            start: PQgetvalue(result, index, column), count: Int(PQgetlength(result, index, column)))
        return try T.decode(bytes, cell)
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
