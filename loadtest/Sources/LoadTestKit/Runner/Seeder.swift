import Foundation
import HTTP
import Reactor

/// Creates the data set a run expects, through the public API, and only what is missing.
///
/// Idempotent by counting first: movies and users via `?limit=1` and `X-Total-Count`
/// (creating only the shortfall), watchlists by reading each user's list (filling only
/// lists shorter than asked). A 409 (the email or the entry exists) counts as done.
public struct Seeder: Sendable {
    public struct Plan: Sendable {
        public var movies: Int
        public var users: Int
        public var perUser: Int
        public var concurrency: Int
        public var zipf: Double
        public var seed: UInt64
        /// How long one item may be refused with 503 or 429 (each retried after its
        /// `Retry-After`) before it counts as failed.
        public var retryDeadline: Duration

        public init(
            movies: Int, users: Int, perUser: Int, concurrency: Int = 16, zipf: Double = 1.0, seed: UInt64 = 0x5EED,
            retryDeadline: Duration = .seconds(120)
        ) {
            self.movies = movies
            self.users = users
            self.perUser = perUser
            self.concurrency = max(1, concurrency)
            self.zipf = zipf
            self.seed = seed
            self.retryDeadline = retryDeadline
        }
    }

    /// Where the seeding stands, for the progress bar.
    public struct Progress: Sendable {
        public var phase: String
        public var done: Int
        public var total: Int
        public var failed: Int
    }

    public struct Summary: Sendable {
        public var moviesExisting = 0
        public var moviesCreated = 0
        public var usersExisting = 0
        public var usersCreated = 0
        public var watchlistsSkipped = 0
        public var entriesAdded = 0
        public var entriesExisting = 0
        public var failures = 0
        /// The first failure's description, to show a person.
        public var firstFailure: String?
    }

    public let target: any LoadTarget
    public let plan: Plan

    public init(target: any LoadTarget, plan: Plan) {
        self.target = target
        self.plan = plan
    }

    public func run(on loops: [EventLoop], progress: @escaping @Sendable (Progress) -> Void) async throws -> Summary {
        var summary = Summary()
        let tally = Tally()

        // Movies.
        let existingMovies = try await count("/api/movies", on: loops[0])
        summary.moviesExisting = existingMovies
        let movieJobs = Array(existingMovies..<max(existingMovies, plan.movies))
        let genres = ["Drama", "Comedy", "Action", "Thriller", "Sci-Fi", "Documentary", "Animation", "Horror"]
        try await forEach(movieJobs, phase: "movies", on: loops, tally: tally, progress: progress) { number in
            let json = "{\"title\":\"Movie \(number + 1)\",\"director\":\"Director \(number % 500 + 1)\","
                + "\"year\":\(1950 + number % 75),\"genre\":\"\(genres[number % genres.count])\",\"rating\":\(Double(number % 100) / 10)}"
            return .json(.POST, "/api/movies", json)
        }
        summary.moviesCreated = await tally.created

        // Users.
        let existingUsers = try await count("/api/users", on: loops[0])
        summary.usersExisting = existingUsers
        await tally.reset()
        let userJobs = Array(existingUsers..<max(existingUsers, plan.users))
        try await forEach(userJobs, phase: "users", on: loops, tally: tally, progress: progress) { number in
            .json(
                .POST, "/api/users",
                "{\"name\":\"Loadtest User \(number + 1)\",\"email\":\"loadtest-user-\(number + 1)@example.com\",\"password\":\"pass123\"}")
        }
        summary.usersCreated = await tally.created
        summary.failures = await tally.failed
        summary.firstFailure = await tally.firstFailure

        // Watchlists: the first `users` users, each given `perUser` Zipf-drawn movies.
        guard plan.perUser > 0 else { return summary }
        let userIDs = Array(try await ids("/api/users", limit: plan.users, on: loops[0]))
        let movieIDs = Array(try await ids("/api/movies", limit: plan.movies, on: loops[0]))
        guard !movieIDs.isEmpty else { return summary }
        await tally.reset()
        let zipf = ZipfSampler(count: movieIDs.count, exponent: plan.zipf)
        let perUser = min(plan.perUser, movieIDs.count)
        try await forEach(Array(userIDs.enumerated()), phase: "watchlists", on: loops, tally: tally, progress: progress,
            perItem: { item, executor in
                let (index, userID) = item
                let list = await executor.send(LoadRequest(method: .GET, path: "/api/watchlist/user/\(userID)", collectBody: true))
                let present = Set(Self.jsonArray(list.body).compactMap { ($0["movie_id"] as? NSNumber)?.intValue })
                if present.count >= perUser { return .skipped }
                var random = SplitMix64(seed: plan.seed, stream: index)
                var wanted: [Int] = []
                var seen = present
                var attempts = 0
                while seen.count < perUser && attempts < perUser * 50 {
                    attempts += 1
                    let movie = movieIDs[zipf.next(using: &random) - 1]
                    if seen.insert(movie).inserted { wanted.append(movie) }
                }
                var outcome = ItemOutcome.created
                for movie in wanted {
                    let result = await executor.send(.json(.POST, "/api/watchlist", "{\"user_id\":\(userID),\"movie_id\":\(movie)}"))
                    if result.status == 201 { await tally.entryAdded() }
                    else if result.status == 409 { await tally.entryExisted() }
                    else { outcome = .failed(Self.describe(result, "POST /api/watchlist")) }
                }
                return outcome
            })
        summary.watchlistsSkipped = await tally.skipped
        summary.entriesAdded = await tally.entriesAdded
        summary.entriesExisting = await tally.entriesExisting
        summary.failures = await tally.failed
        summary.firstFailure = await tally.firstFailure
        return summary
    }

    enum ItemOutcome: Sendable {
        case created, existed, skipped
        case failed(String)
    }

    /// Runs `jobs` over `plan.concurrency` workers spread on the loops, one request each.
    private func forEach(
        _ jobs: [Int], phase: String, on loops: [EventLoop], tally: Tally,
        progress: @escaping @Sendable (Progress) -> Void, request: @escaping @Sendable (Int) -> LoadRequest
    ) async throws {
        let retryDeadline = plan.retryDeadline
        try await forEach(jobs, phase: phase, on: loops, tally: tally, progress: progress) { number, executor in
            // The response head for its Retry-After, the body for a failure's description.
            var request = request(number)
            request.collectBody = true
            var result = await executor.send(request)
            // The user service bounds its password hashing (503) and the gateway its request
            // rate (429), both with Retry-After: wait as told (at most 2 s) and try again, until
            // the item's deadline. Sign-ups admitted a few at a time leave the others refused
            // for many rounds in a row, so the bound is a time, not a number of tries.
            let deadline = ContinuousClock.now.advanced(by: retryDeadline)
            while result.status == 503 || result.status == 429 {
                let seconds = result.head?.headers["retry-after"].flatMap(Double.init) ?? 1
                let wait = Duration.milliseconds(Int(min(max(seconds, 0.05), 2) * 1000))
                guard ContinuousClock.now.advanced(by: wait) < deadline else { break }
                try? await Task.sleep(for: wait)
                result = await executor.send(request)
            }
            switch result.status {
            case 200, 201: return .created
            case 409: return .existed
            default: return .failed(Self.describe(result, "\(request.method) \(request.path)"))
            }
        }
    }

    private func forEach<Item: Sendable>(
        _ jobs: [Item], phase: String, on loops: [EventLoop], tally: Tally,
        progress: @escaping @Sendable (Progress) -> Void,
        perItem: @escaping @Sendable (Item, any RequestExecutor) async -> ItemOutcome
    ) async throws {
        guard !jobs.isEmpty else {
            progress(Progress(phase: phase, done: 0, total: 0, failed: 0))
            return
        }
        let workers = min(plan.concurrency, jobs.count)
        let target = self.target
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                let loop = loops[worker % loops.count]
                group.addTask(executorPreference: loop) {
                    let executor = target.makeExecutor(on: loop)
                    defer { executor.close() }
                    for index in stride(from: worker, to: jobs.count, by: workers) {
                        let outcome = await perItem(jobs[index], executor)
                        let snapshot = await tally.add(outcome, total: jobs.count, phase: phase)
                        if let snapshot { progress(snapshot) }
                    }
                }
            }
        }
        progress(await tally.progress(phase: phase, total: jobs.count))
    }

    /// `X-Total-Count` of a list endpoint.
    private func count(_ path: String, on loop: EventLoop) async throws -> Int {
        let result = try await get("\(path)?limit=1", on: loop)
        guard let header = result.head?.headers["x-total-count"], let total = Int(header) else {
            // Without the header, count a full listing (slow but correct).
            return try await ids(path, limit: Int.max, on: loop).count
        }
        return total
    }

    /// The ids of the first `limit` items of a list endpoint, in id order, page by page.
    private func ids(_ path: String, limit: Int, on loop: EventLoop) async throws -> [Int] {
        var ids: [Int] = []
        var offset = 0
        while ids.count < limit {
            let page = min(1000, limit - ids.count)
            let result = try await get("\(path)?limit=\(page)&offset=\(offset)", on: loop)
            let items = Self.jsonArray(result.body)
            ids += items.compactMap { ($0["id"] as? NSNumber)?.intValue }
            if items.count < page { break }
            offset += items.count
        }
        return ids.sorted()
    }

    private func get(_ path: String, on loop: EventLoop) async throws -> LoadResult {
        let target = self.target
        let result = await withTaskExecutorPreference(loop) { @concurrent () async -> LoadResult in
            let executor = target.makeExecutor(on: loop)
            defer { executor.close() }
            return await executor.send(LoadRequest(method: .GET, path: path, collectBody: true))
        }
        guard result.status == 200 else { throw LoadTestError(.badResponse, Self.describe(result, "GET \(path)")) }
        return result
    }

    static func jsonArray(_ body: [UInt8]) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]] ?? []
    }

    static func describe(_ result: LoadResult, _ what: String) -> String {
        if let error = result.error { return "\(what): \(error.rawValue) error" }
        let detail = String(decoding: result.body.prefix(200), as: UTF8.self)
        return "\(what): HTTP \(result.status)\(detail.isEmpty ? "" : " \(detail)")"
    }
}

/// Counts for the seeder, shared by its workers (an actor: they run on several loops).
actor Tally {
    var created = 0
    var existed = 0
    var skipped = 0
    var failed = 0
    var entriesAdded = 0
    var entriesExisting = 0
    var firstFailure: String?
    private var done = 0
    private var lastReport: UInt64 = 0

    func reset() {
        created = 0
        existed = 0
        skipped = 0
        done = 0
    }

    func entryAdded() { entriesAdded += 1 }
    func entryExisted() { entriesExisting += 1 }

    /// Counts one item; returns a progress snapshot at most ten times a second.
    func add(_ outcome: Seeder.ItemOutcome, total: Int, phase: String) -> Seeder.Progress? {
        done += 1
        switch outcome {
        case .created: created += 1
        case .existed: existed += 1
        case .skipped: skipped += 1
        case .failed(let why):
            failed += 1
            if firstFailure == nil { firstFailure = why }
        }
        let now = monotonicNanoseconds()
        guard now - lastReport > 100_000_000 else { return nil }
        lastReport = now
        return Seeder.Progress(phase: phase, done: done, total: total, failed: failed)
    }

    func progress(phase: String, total: Int) -> Seeder.Progress {
        Seeder.Progress(phase: phase, done: done, total: total, failed: failed)
    }
}
