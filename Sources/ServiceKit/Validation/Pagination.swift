import HTTP

/// `?limit=` (default 100, 1…1000) and `?offset=` (default 0, ≥ 0), as API.md fixes.
public struct Pagination: Sendable, Equatable {
    public var limit: Int
    public var offset: Int

    public static let defaultLimit = 100
    public static let maxLimit = 1000

    public init(limit: Int = Pagination.defaultLimit, offset: Int = 0) {
        self.limit = limit
        self.offset = offset
    }

    /// Reads both from `fields`, recording 422 issues for bad values; nil then.
    public static func read(from fields: inout ParameterFields) -> Pagination? {
        let limit = fields.int("limit", default: Int64(defaultLimit), range: 1...Int64(maxLimit))
        // An offset beyond any table we could have is still a number; cap it to stay in Int.
        let offset = fields.int("offset", default: 0, range: 0...Int64(Int32.max) * 1024)
        guard let limit, let offset else { return nil }
        return Pagination(limit: Int(limit), offset: Int(offset))
    }

    /// The request's pagination.
    /// - Throws: ``ServiceError`` 422 for a bad `limit` or `offset`.
    public init(_ request: HTTPServerRequest) throws(ServiceError) {
        var fields = ParameterFields(query: request)
        let page = Pagination.read(from: &fields)
        self = try fields.finish(page)
    }
}

extension HTTPServerResponse {
    /// Sets `X-Total-Count`: how many items the whole list has, beyond this page.
    public mutating func setTotalCount(_ total: Int) {
        headers.replaceOrAdd(name: "X-Total-Count", value: String(total))
    }
}
