/// The services behind the gateway, each an upstream with one or more instances.
public enum UpstreamService: String, Sendable, CaseIterable, Hashable {
    case users
    case movies
    case watchlist

    /// The case's position, 0..<allCases.count, for array-indexed look-ups.
    var ordinal: Int {
        switch self {
        case .users: 0
        case .movies: 1
        case .watchlist: 2
        }
    }

    /// The name used in error details: `"Movie service unavailable"`.
    public var displayName: String {
        switch self {
        case .users: "User service"
        case .movies: "Movie service"
        case .watchlist: "Watchlist service"
        }
    }

    /// The setting that lists its instances (`MOVIE_SERVICE_URL`).
    public var urlSetting: String {
        switch self {
        case .users: "USER_SERVICE_URL"
        case .movies: "MOVIE_SERVICE_URL"
        case .watchlist: "WATCHLIST_SERVICE_URL"
        }
    }

    /// Where it listens by default (API.md: 8001, 8002, 8003 on loopback).
    public var defaultURL: String {
        switch self {
        case .users: "http://127.0.0.1:8001"
        case .movies: "http://127.0.0.1:8002"
        case .watchlist: "http://127.0.0.1:8003"
        }
    }

    /// Its name in `UPSTREAMS_FILE` and in the access log; `user`/`movie` are accepted too.
    init?(fileName: String) {
        switch fileName.lowercased() {
        case "users", "user", "user-service": self = .users
        case "movies", "movie", "movie-service": self = .movies
        case "watchlist", "watchlists", "watchlist-service": self = .watchlist
        default: return nil
        }
    }
}
