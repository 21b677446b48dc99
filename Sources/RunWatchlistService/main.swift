import ServiceKit
import WatchlistService

// `watchlist-service --help` lists the settings (PORT 8003, DATABASE_URL, USER_SERVICE_URL,
// MOVIE_SERVICE_URL, UPSTREAM_TIMEOUT, AUTH_SECRET, AUTH_REQUIRED, ...).
ServiceRunner.main(name: WatchlistService.name, settings: WatchlistService.settings) { context in
    try await WatchlistService.make(context)
}
