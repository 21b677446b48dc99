// movie-service: the movie catalog with its Redis cache (see MovieService).
import MovieService
import ServiceKit

ServiceRunner.main(name: MovieService.name, settings: MovieService.settings) { context in
    try await MovieService.make(context)
}
