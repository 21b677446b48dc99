/// One entry of FastAPI's 422 list: `{"type", "loc", "msg", "input"?, "ctx"?}`.
///
/// The fields, types and messages are pydantic v2's, so clients written against the
/// FastAPI seed read ours the same way. `input` echoes the offending value except for
/// sensitive fields (passwords), missing fields and whole bodies, which we never echo.
public struct ValidationIssue: Sendable, Equatable, JSONEncodable {
    /// The kind of problem, pydantic's names.
    public struct Kind: Hashable, Sendable {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }

        public static let missing = Kind("missing")
        public static let stringType = Kind("string_type")
        public static let intType = Kind("int_type")
        public static let intParsing = Kind("int_parsing")
        public static let intFromFloat = Kind("int_from_float")
        public static let floatType = Kind("float_type")
        public static let floatParsing = Kind("float_parsing")
        public static let boolType = Kind("bool_type")
        public static let boolParsing = Kind("bool_parsing")
        public static let listType = Kind("list_type")
        public static let stringTooShort = Kind("string_too_short")
        public static let stringTooLong = Kind("string_too_long")
        public static let tooShort = Kind("too_short")
        public static let tooLong = Kind("too_long")
        public static let greaterThanEqual = Kind("greater_than_equal")
        public static let lessThanEqual = Kind("less_than_equal")
        public static let greaterThan = Kind("greater_than")
        public static let valueError = Kind("value_error")
        /// A string holding U+0000 (which PostgreSQL's text cannot store); never echoed.
        public static let stringNUL = Kind("string_nul")
        public static let modelType = Kind("model_attributes_type")
    }

    public var kind: Kind
    /// Where: `["body", "email"]`, `["query", "limit"]`, `["path", "user_id"]`, `["body", "movie_ids", 3]`.
    public var location: [LocationElement]
    public var message: String
    public var input: JSONValue?
    public var context: JSONObject?

    public enum LocationElement: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        case key(String)
        case index(Int)
        public init(stringLiteral value: String) { self = .key(value) }
        public init(integerLiteral value: Int) { self = .index(value) }
    }

    public init(
        _ kind: Kind, location: [LocationElement], message: String, input: JSONValue? = nil, context: JSONObject? = nil
    ) {
        self.kind = kind
        self.location = location
        self.message = message
        self.input = input
        self.context = context
    }

    /// `body.email` for logs.
    public var locationText: String {
        location.map { element in
            switch element {
            case .key(let key): key
            case .index(let index): String(index)
            }
        }.joined(separator: ".")
    }

    public func encode(to json: inout JSONWriter) {
        json.object { object in
            object.field("type", kind.rawValue)
            object.key("loc")
            object.array { list in
                for element in location {
                    switch element {
                    case .key(let key): list.value(key)
                    case .index(let index): list.value(index)
                    }
                }
            }
            object.field("msg", message)
            if let input { object.field("input", input) }
            if let context { object.field("ctx", .object(context)) }
        }
    }
}
