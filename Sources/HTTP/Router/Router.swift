/// Routes requests by method and path pattern to handlers.
///
/// Patterns are literal segments and `{name}`, `{name:int}` or `{name:id}` parameters
/// (`id`: a positive integer, what PostgreSQL assigns): `/api/movies/{movie_id:id}`. A path
/// that matches no pattern is a 404; one that matches only for other methods is a 405
/// with `Allow`, even when a parameterised route would take it but for its type
/// (`PUT /api/movies/batch` beside `PUT /api/movies/{movie_id:id}`); a parameter of the wrong
/// type is otherwise a 422. Each is thrown as an ``HTTPServerError``, for the server's (or
/// the caller's) ``HTTPErrorRenderer`` to word. A trailing slash is ignored. Routes are
/// added at start-up, then the router is read-only and shared by every loop.
public struct Router: HTTPResponder {
    public typealias Handler = @Sendable (HTTPServerRequest) async throws -> HTTPServerResponse

    private struct Route: Sendable {
        let method: HTTPMethod
        let segments: [Segment]
        let handler: Handler

        /// Whether a request with `method` is this route's (a GET route serves HEAD too).
        func serves(_ method: HTTPMethod) -> Bool {
            self.method == method || (method == .HEAD && self.method == .GET)
        }
    }

    enum Segment: Sendable, Equatable {
        /// A literal segment's bytes (compared as bytes: no Unicode normalisation).
        case literal([UInt8])
        case parameter(String, ParameterType)
        /// `{name...}`: the rest of the path, possibly empty (the gateway's prefixes).
        case rest(String)
    }

    /// What a `{name:type}` segment accepts.
    enum ParameterType: Sendable, Equatable {
        /// `{name}`: any segment.
        case text
        /// `{name:int}`: what `Int(_:)` parses.
        case int
        /// `{name:id}`: a positive integer.
        case id
    }

    private var routes: [Route] = []
    /// Answer for unknown paths: ``HTTPServerError/notFound`` unless replaced.
    public var notFound: Handler = { _ in throw HTTPServerError.notFound }

    public init() {}

    /// Adds a route. Traps on a malformed pattern: patterns are our own constants.
    public mutating func on(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        routes.append(Route(method: method, segments: Self.parse(pattern), handler: handler))
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { on(.GET, pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping Handler) { on(.POST, pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping Handler) { on(.PUT, pattern, handler) }
    public mutating func patch(_ pattern: String, _ handler: @escaping Handler) { on(.PATCH, pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { on(.DELETE, pattern, handler) }

    static func parse(_ pattern: String) -> [Segment] {
        pattern.split(separator: "/", omittingEmptySubsequences: true).map { raw in
            guard raw.first == "{", raw.last == "}" else { return .literal(Array(raw.utf8)) }
            let inner = raw.dropFirst().dropLast()
            if inner.hasSuffix("...") { return .rest(String(inner.dropLast(3))) }
            let parts = inner.split(separator: ":", maxSplits: 1)
            precondition(!parts.isEmpty, "empty parameter in route pattern \(pattern)")
            let type: ParameterType
            switch parts.count == 2 ? parts[1] : "" {
            case "": type = .text
            case "int": type = .int
            case "id": type = .id
            default: preconditionFailure("unknown parameter type in \(pattern)")
            }
            return .parameter(String(parts[0]), type)
        }
    }

    @inline(__always)  // into its witness: one async frame per request instead of two
    public func respond(to request: consuming HTTPServerRequest) async throws -> HTTPServerResponse {
        let path = request.head.path
        // Methods of the routes whose pattern the path matches, parameters' types included.
        var allowed: [HTTPMethod] = []
        var typeIssue: PathParameterIssue?
        // By index, reading each route in place: `for route in routes` copies every route
        // it passes (three reference counts up and down each).
        for index in routes.indices {
            switch Self.match(routes[index].segments, path) {
            case .noMatch:
                continue
            case .typeMismatch(let issue):
                typeIssue = typeIssue ?? issue
            case .matched(let parameters):
                if routes[index].serves(request.method) {
                    request.parameters = parameters
                    return try await routes[index].handler(request)
                }
                allowed.append(routes[index].method)
            }
        }
        if !allowed.isEmpty { throw HTTPServerError(.methodNotAllowed(allowed: allowed)) }
        if let typeIssue { throw HTTPServerError(.invalidPathParameter(typeIssue)) }
        return try await notFound(request)
    }

    enum Match {
        case noMatch
        case typeMismatch(PathParameterIssue)
        case matched(PathParameters)
    }

    /// Matches `path` against one route's segments, walking the path's bytes in place:
    /// literals are compared as bytes and only parameters become slices of `path`, so
    /// routing a request allocates nothing unless it has parameters (their list) or a
    /// `{rest...}` spans a doubled slash. Why bytes: slicing a `Substring` by UTF-8 offsets
    /// re-aligns each index to a scalar boundary, and doing that for every segment of every
    /// route tried would cost more than the rest of the request's routing.
    static func match(_ pattern: [Segment], _ path: Substring) -> Match {
        path.withContiguousUTF8 { bytes in
            var parameters = PathParameters()
            var mismatch: PathParameterIssue?
            var segments = PathSegments(bytes)
            for segment in pattern {
                if case .rest(let name) = segment {
                    parameters.append(name: name, value: segments.rest(of: path))
                    return mismatch.map { .typeMismatch($0) } ?? .matched(parameters)
                }
                guard let part = segments.next() else { return .noMatch }
                switch segment {
                case .literal(let literal):
                    if !Self.bytesEqual(literal, UnsafeBufferPointer(rebasing: bytes[part])) { return .noMatch }
                case .parameter(let name, let type):
                    let value = PathSegments.slice(of: path, part)
                    if type != .text && mismatch == nil {
                        let digits = UnsafeBufferPointer(rebasing: bytes[part])
                        if !Self.isInteger(digits) {
                            mismatch = PathParameterIssue(name: name, input: String(value), kind: .notAnInteger)
                        } else if type == .id && !Self.isPositive(digits) {
                            mismatch = PathParameterIssue(name: name, input: String(value), kind: .notPositive)
                        }
                    }
                    parameters.append(name: name, value: value)
                case .rest:
                    preconditionFailure("handled above")
                }
            }
            guard segments.next() == nil else { return .noMatch }
            return mismatch.map { .typeMismatch($0) } ?? .matched(parameters)
        }
    }
}

extension Router {
    /// Byte equality, as paths are compared: no Unicode normalisation (and none of its cost).
    /// A loop rather than `elementsEqual`, whose generic iteration costs more than the
    /// rest of the match.
    static func bytesEqual(_ literal: [UInt8], _ part: UnsafeBufferPointer<UInt8>) -> Bool {
        guard literal.count == part.count else { return false }
        return literal.withUnsafeBufferPointer { literal in
            for index in 0..<part.count where literal[index] != part[index] { return false }
            return true
        }
    }

    /// Whether an integer that ``isInteger(_:)`` accepted is above zero: no minus sign and a
    /// digit other than 0.
    static func isPositive(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.first != UInt8(ascii: "-") && bytes.contains { $0 > UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// Whether `bytes` is what `Int(_:)` accepts: an optional sign, then decimal digits, in
    /// range. (What `PathParameters.int` will parse, checked without making a `String`.)
    static func isInteger(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            index = 1
        }
        guard index < bytes.count else { return false }
        var value = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return false }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative
                ? times10.subtractingReportingOverflow(Int(digit)) : times10.addingReportingOverflow(Int(digit))
            if overflow1 || overflow2 { return false }
            value = next
            index += 1
        }
        return true
    }
}

/// The non-empty `/`-separated segments of a path, as byte ranges of it (`//a///b/` is
/// `a`, `b`).
struct PathSegments: IteratorProtocol {
    private let bytes: UnsafeBufferPointer<UInt8>
    /// Bytes already walked.
    private var offset = 0

    /// - Parameter bytes: the path's UTF-8, valid for as long as this walker is used.
    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func next() -> Range<Int>? {
        var start = offset
        while start < bytes.count, bytes[start] == UInt8(ascii: "/") { start += 1 }
        guard start < bytes.count else {
            offset = bytes.count
            return nil
        }
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "/") { end += 1 }
        offset = end
        return start..<end
    }

    /// The segments not yet returned, joined by single slashes (empty when none are left):
    /// a slice of `path` (whose UTF-8 these bytes are) when it has no doubled slash there,
    /// which is the usual case, else a new string.
    mutating func rest(of path: Substring) -> Substring {
        guard let first = next() else { return "" }
        var end = first.upperBound
        var normalized: [UInt8]?  // built only once a doubled slash shows up
        while let segment = next() {
            if normalized == nil, segment.lowerBound != end + 1 {
                normalized = Array(bytes[first.lowerBound..<end])
            }
            normalized?.append(UInt8(ascii: "/"))
            normalized?.append(contentsOf: bytes[segment])
            end = segment.upperBound
        }
        return normalized.map { Substring(String(decoding: $0, as: UTF8.self)) } ?? Self.slice(of: path, first.lowerBound..<end)
    }

    /// `path`'s text at UTF-8 offsets `range`. The offsets fall next to a `/` or an end, so
    /// they are scalar boundaries; for native strings the indices are made in O(1).
    static func slice(of path: Substring, _ range: Range<Int>) -> Substring {
        let utf8 = path.utf8
        let lower = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
        return path[lower..<utf8.index(lower, offsetBy: range.count)]
    }
}
