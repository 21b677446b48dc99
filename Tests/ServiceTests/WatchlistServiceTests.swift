import AuthToken
import HTTP
import Reactor
import ServiceKit
import Testing
import WatchlistService

/// The watchlist service against a real PostgreSQL and two fake upstream services over
/// loopback HTTP.
@Suite(.timeLimit(.minutes(10))) struct WatchlistServiceTests {
    // MARK: Adding

    @Test func addReturnsTheEntry() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)

        let response = await harness.add(user: base + 1, movie: base + 2, headers: ["X-Request-ID": "wl-add-1"])
        #expect(response.status.code == 201)
        let entry = try #require(response.jsonBody)
        #expect(entry["user_id"]?.intValue == base + 1)
        #expect(entry["movie_id"]?.intValue == base + 2)
        #expect((entry["id"]?.intValue ?? 0) > 0)
        let addedAt = try #require(entry["added_at"]?.stringValue)
        #expect(addedAt.hasSuffix("Z"))
        #expect(entry.objectValue?.count == 4)
        // Each service was asked once, with the request's id passed on.
        #expect(harness.users.calls("GET /api/users") == 1)
        #expect(harness.movies.calls("GET /api/movies") == 1)
        #expect(harness.users.state.withLock { $0.requestIDs } == ["wl-add-1"])
        #expect(harness.movies.state.withLock { $0.requestIDs } == ["wl-add-1"])
        #expect(response.headers["X-Request-ID"] == "wl-add-1")
    }

    @Test func addNamesTheMissingUserOrMovie() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)

        let noUser = await harness.add(user: base + 9, movie: base + 2)
        #expect(noUser.status.code == 404)
        #expect(noUser.detail == "User not found")
        let noMovie = await harness.add(user: base + 1, movie: base + 9)
        #expect(noMovie.status.code == 404)
        #expect(noMovie.detail == "Movie not found")
        let neither = await harness.add(user: base + 8, movie: base + 9)
        #expect(neither.detail == "User not found")
        // Nothing was stored.
        let check = await harness.call(.GET, "/api/watchlist/user/\(base + 1)/movie/\(base + 9)")
        #expect(check.jsonBody?["in_watchlist"] == .bool(false))
    }

    @Test func addValidatesItsBody() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let missing = await harness.call(.POST, "/api/watchlist", json: .object(JSONObject(["user_id": .int(1)])))
        #expect(missing.status.code == 422)
        let location = missing.jsonBody?["detail"]?.arrayValue?.first?["loc"]
        #expect(location == .array([.string("body"), .string("movie_id")]))
        let wrongType = await harness.call(
            .POST, "/api/watchlist", json: .object(JSONObject(["user_id": .string("x"), "movie_id": .int(0)])))
        #expect(wrongType.status.code == 422)
        #expect(wrongType.jsonBody?["detail"]?.arrayValue?.count == 2)
        let notJSON = await harness.call(.POST, "/api/watchlist", headers: ["Content-Type": "text/plain"])
        #expect(notJSON.status.code == 415)
        // No upstream was bothered.
        #expect(harness.users.calls("GET /api/users") == 0)
    }

    @Test func addingTheSameMovieTwiceIsAConflict() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        #expect(await harness.add(user: base + 1, movie: base + 2).status.code == 201)
        let again = await harness.add(user: base + 1, movie: base + 2)
        #expect(again.status.code == 409)
        #expect(again.detail == "Movie already in watchlist")
    }

    @Test func racingDuplicateAddsYieldExactlyOneCreated() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)

        let statuses = await withTaskGroup(of: Int.self) { group in
            for index in 0..<20 {
                group.addTask { await harness.add(user: base + 1, movie: base + 2, loop: index).status.code }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 201 }.count == 1)
        #expect(statuses.filter { $0 == 409 }.count == 19)
        let list = await harness.call(.GET, "/api/watchlist/user/\(base + 1)")
        #expect(list.jsonBody?.arrayValue?.count == 1)
    }

    @Test func userAndMovieAreCheckedConcurrently() async throws {
        // The upstream timeout well above the checks' 2 s: one after the other they still pass.
        let harness = try await WatchlistHarness.start(upstreamTimeout: .seconds(10))
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        harness.movies.addMovie(base + 3)
        // Warm the pools first (database and both upstreams), so that only the checks are timed.
        #expect(await harness.add(user: base + 1, movie: base + 3).status.code == 201)
        harness.users.setDelay(.seconds(2))
        harness.movies.setDelay(.seconds(2))

        let response = await harness.add(user: base + 1, movie: base + 2)
        #expect(response.status.code == 201)
        // Concurrent means each check began before the other ended (one after the other, the
        // second would begin only after the first's 2 s); what the upstreams saw, not a stopwatch.
        let user = try #require(harness.users.lastCall)
        let movie = try #require(harness.movies.lastCall)
        #expect(user.began < movie.ended && movie.began < user.ended,
                "user check \(user), movie check \(movie): one waited for the other")
    }

    // MARK: Lists

    @Test func listMakesOneBatchCallWhateverItsLength() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        let user = base + 1
        harness.users.addUser(user)
        for movie in 1...50 { harness.movies.addMovie(base + 100 + Int64(movie)) }
        for movie in 1...50 {
            #expect(await harness.add(user: user, movie: base + 100 + Int64(movie)).status.code == 201)
        }
        harness.movies.removeMovie(base + 125)  // deleted from the catalogue since
        harness.movies.resetCounts()

        let response = await harness.call(.GET, "/api/watchlist/user/\(user)", headers: ["X-Request-ID": "wl-list"])
        #expect(response.status.code == 200)
        #expect(response.headers["X-Total-Count"] == "50")
        #expect(harness.movies.calls("POST /api/movies/batch") == 1)
        #expect(harness.movies.calls("GET /api/movies") == 0)
        #expect(harness.movies.state.withLock { $0.requestIDs } == ["wl-list"])
        #expect(
            Set(harness.movies.state.withLock { $0.batches.first ?? [] })
                == Set((1...50).map { base + 100 + Int64($0) }))

        let entries = try #require(response.jsonBody?.arrayValue)
        #expect(entries.count == 50)
        // Newest first: the last added comes first.
        #expect(entries.map { $0["movie_id"]?.intValue } == (1...50).reversed().map { base + 100 + Int64($0) })
        for entry in entries {
            let movieID = try #require(entry["movie_id"]?.intValue)
            if movieID == base + 125 {
                #expect(entry["movie"] == .null)
            } else {
                let movie = try #require(entry["movie"]?.objectValue)
                #expect(movie.keys == ["id", "title", "director", "year", "genre", "rating"])
                #expect(movie["id"]?.intValue == movieID)
                #expect(movie["title"]?.stringValue == "Movie \(movieID)")
            }
        }
    }

    @Test func listsArePaginated() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        let user = base + 1
        harness.users.addUser(user)
        for movie in 1...7 {
            harness.movies.addMovie(base + Int64(10 + movie))
            #expect(await harness.add(user: user, movie: base + Int64(10 + movie)).status.code == 201)
        }
        let first = await harness.call(.GET, "/api/watchlist/user/\(user)?limit=3")
        #expect(first.headers["X-Total-Count"] == "7")
        #expect(first.jsonBody?.arrayValue?.compactMap { $0["movie_id"]?.intValue } == [17, 16, 15].map { base + $0 })
        let last = await harness.call(.GET, "/api/watchlist/user/\(user)?limit=3&offset=6")
        #expect(last.jsonBody?.arrayValue?.compactMap { $0["movie_id"]?.intValue } == [base + 11])
        harness.movies.resetCounts()
        let beyond = await harness.call(.GET, "/api/watchlist/user/\(user)?offset=50")
        #expect(beyond.jsonBody == .array([]))
        #expect(beyond.headers["X-Total-Count"] == "7")
        #expect(harness.movies.calls("POST /api/movies/batch") == 0)  // nothing to enrich
        let bad = await harness.call(.GET, "/api/watchlist/user/\(user)?limit=1001")
        #expect(bad.status.code == 422)
        #expect(bad.jsonBody?["detail"]?.arrayValue?.first?["loc"] == .array([.string("query"), .string("limit")]))

        // By movie: ordered by id, paginated the same way.
        let other = base + 2
        harness.users.addUser(other)
        #expect(await harness.add(user: other, movie: base + 11).status.code == 201)
        let byMovie = await harness.call(.GET, "/api/watchlist/movie/\(base + 11)")
        #expect(byMovie.headers["X-Total-Count"] == "2")
        let owners = byMovie.jsonBody?.arrayValue?.compactMap { $0["user_id"]?.intValue }
        #expect(owners == [user, other])
        let secondPage = await harness.call(.GET, "/api/watchlist/movie/\(base + 11)?limit=1&offset=1")
        #expect(secondPage.jsonBody?.arrayValue?.compactMap { $0["user_id"]?.intValue } == [other])
        #expect(secondPage.jsonBody?.arrayValue?.first?.objectValue?.count == 4)
    }

    @Test func exportHasFullMoviesAndTheMissingIDs() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        let user = base + 1
        harness.users.addUser(user)
        for movie in 1...3 {
            harness.movies.addMovie(base + Int64(movie))
            #expect(await harness.add(user: user, movie: base + Int64(movie)).status.code == 201)
        }
        harness.movies.removeMovie(base + 2)
        harness.movies.resetCounts()

        let response = await harness.call(.GET, "/api/watchlist/user/\(user)/export")
        #expect(response.status.code == 200)
        #expect(harness.movies.calls("POST /api/movies/batch") == 1)
        #expect(harness.movies.calls("GET /api/movies") == 0)
        let body = try #require(response.jsonBody?.objectValue)
        #expect(body.keys == ["user_id", "exported_at", "count", "movies", "missing_movie_ids"])
        #expect(body["user_id"]?.intValue == user)
        #expect(body["exported_at"]?.stringValue?.hasSuffix("Z") == true)
        #expect(body["count"]?.intValue == 2)
        #expect(body["missing_movie_ids"] == .array([.int(base + 2)]))
        let movies = try #require(body["movies"]?.arrayValue)
        #expect(movies.compactMap { $0["id"]?.intValue } == [base + 3, base + 1])
        let first = try #require(movies.first?.objectValue)
        #expect(
            first.keys == [
                "id", "title", "director", "year", "genre", "rating", "created_at", "updated_at", "added_at",
            ])
        #expect(first["added_at"]?.stringValue?.hasSuffix("Z") == true)

        let empty = await harness.call(.GET, "/api/watchlist/user/\(base + 7)/export")
        #expect(empty.jsonBody?["count"]?.intValue == 0)
        #expect(empty.jsonBody?["movies"] == .array([]))
        #expect(empty.jsonBody?["missing_movie_ids"] == .array([]))
    }

    // MARK: Checks and deletes

    @Test func checkSaysWhetherAMovieIsOnTheList() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        let added = await harness.add(user: base + 1, movie: base + 2)
        let yes = try #require(await harness.call(.GET, "/api/watchlist/user/\(base + 1)/movie/\(base + 2)").jsonBody)
        #expect(yes["in_watchlist"] == .bool(true))
        #expect(yes["entry_id"] == added.jsonBody?["id"])
        #expect(yes["added_at"] == added.jsonBody?["added_at"])
        #expect(yes["user_id"]?.intValue == base + 1)
        #expect(yes["movie_id"]?.intValue == base + 2)
        let no = try #require(await harness.call(.GET, "/api/watchlist/user/\(base + 1)/movie/\(base + 3)").jsonBody)
        #expect(no["in_watchlist"] == .bool(false))
        #expect(no["entry_id"] == .null)
        #expect(no["added_at"] == .null)
        let badPath = await harness.call(.GET, "/api/watchlist/user/abc/movie/1")
        #expect(badPath.status.code == 422)
    }

    @Test func deleteByEntryIDThenNotFound() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        let id = try #require(await harness.add(user: base + 1, movie: base + 2).jsonBody?["id"]?.intValue)
        #expect(await harness.call(.DELETE, "/api/watchlist/\(id)").status.code == 204)
        let again = await harness.call(.DELETE, "/api/watchlist/\(id)")
        #expect(again.status.code == 404)
        #expect(again.detail == "Watchlist entry not found")
        // The movie can be added again.
        #expect(await harness.add(user: base + 1, movie: base + 2).status.code == 201)
    }

    @Test func deleteByUserAndMovieThenNotFound() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        #expect(await harness.add(user: base + 1, movie: base + 2).status.code == 201)
        let path = "/api/watchlist/user/\(base + 1)/movie/\(base + 2)"
        #expect(await harness.call(.DELETE, path).status.code == 204)
        let again = await harness.call(.DELETE, path)
        #expect(again.status.code == 404)
        #expect(again.detail == "Watchlist entry not found")
        #expect(await harness.call(.GET, path).jsonBody?["in_watchlist"] == .bool(false))
    }

    @Test func internalDeleteRemovesEveryEntryOfTheUser() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        for user in [base + 1, base + 2] { harness.users.addUser(user) }
        for movie in 1...3 {
            harness.movies.addMovie(base + Int64(10 + movie))
            #expect(await harness.add(user: base + 1, movie: base + Int64(10 + movie)).status.code == 201)
        }
        #expect(await harness.add(user: base + 2, movie: base + 11).status.code == 201)

        #expect(await harness.call(.DELETE, "/internal/users/\(base + 1)/watchlist").status.code == 204)
        let gone = await harness.call(.GET, "/api/watchlist/user/\(base + 1)")
        #expect(gone.jsonBody == .array([]))
        #expect(gone.headers["X-Total-Count"] == "0")
        // Idempotent, and other users keep theirs.
        #expect(await harness.call(.DELETE, "/internal/users/\(base + 1)/watchlist").status.code == 204)
        #expect(await harness.call(.GET, "/api/watchlist/user/\(base + 2)").headers["X-Total-Count"] == "1")
    }

    // MARK: Health and metrics

    @Test func healthChecksTheDatabaseOnly() async throws {
        // The movie service's URL points nowhere: health stays green.
        let port = try await watchlistClosedPort(group: WatchlistHarness.group)
        let harness = try await WatchlistHarness.start(movieServiceURL: "http://127.0.0.1:\(port)")
        defer { Task { await harness.stop() } }
        #expect(await harness.call(.GET, "/api/watchlist/movie/1").status.code == 200)
        // Several times: ServiceKit's `HealthReport.bounded` once let the check's cancelled
        // timer answer "down" before the check's "ok" landed (one call in three, found here).
        for _ in 0..<10 {
            let health = await harness.call(.GET, "/health")
            #expect(health.jsonBody?["checks"]?["database"]?.stringValue == "ok")
        }
        let health = await harness.call(.GET, "/health")
        #expect(health.status.code == 200)
        #expect(
            health.jsonBody
                == .object(
                    JSONObject([
                        "status": .string("healthy"), "service": .string("watchlist-service"),
                        "checks": .object(JSONObject(["database": .string("ok")])),
                    ])))
    }

    @Test func metricsCountUpstreamCallsByOutcome() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        _ = await harness.add(user: base + 1, movie: base + 2)
        _ = await harness.add(user: base + 1, movie: base + 3)
        let text = String(decoding: (await harness.call(.GET, "/metrics")).bodyBytes, as: UTF8.self)
        #expect(text.contains(#"watchlist_upstream_requests_total{upstream="user-service",outcome="ok"} 2"#))
        #expect(text.contains(#"watchlist_upstream_requests_total{upstream="movie-service",outcome="ok"} 1"#))
        #expect(text.contains(#"watchlist_upstream_requests_total{upstream="movie-service",outcome="not_found"} 1"#))
        #expect(
            text.contains(
                #"watchlist_upstream_request_duration_seconds_count{upstream="movie-service",outcome="ok"} 1"#))
    }
}
