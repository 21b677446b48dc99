/// The endpoints a run reports on, as a small closed set so that per-loop statistics are
/// arrays indexed by endpoint rather than dictionaries keyed by strings.
public enum Endpoint: Int, Sendable, CaseIterable, Codable, Comparable {
    case movieByID
    case movieBatch
    case watchlist
    case watchlistExport
    case watchlistAdd
    case watchlistRemove
    case movieCreate
    /// Anything else (probes, custom requests).
    case other

    /// The label in reports: method and path template.
    public var label: String {
        switch self {
        case .movieByID: "GET /api/movies/{id}"
        case .movieBatch: "POST /api/movies/batch"
        case .watchlist: "GET /api/watchlist/user/{id}"
        case .watchlistExport: "GET /api/watchlist/user/{id}/export"
        case .watchlistAdd: "POST /api/watchlist"
        case .watchlistRemove: "DELETE /api/watchlist/user/{id}/movie/{id}"
        case .movieCreate: "POST /api/movies"
        case .other: "other"
        }
    }

    public static func < (lhs: Endpoint, rhs: Endpoint) -> Bool { lhs.rawValue < rhs.rawValue }
}
