/// What to send: the scenario and the data set's shape. Immutable and shared by all users.
public struct WorkloadSpec: Sendable {
    public var scenario: Scenario
    public var mix: Mix
    /// Movies are assumed to have ids firstMovieID ..< firstMovieID + movies (a fresh seed).
    public var movies: Int
    public var firstMovieID: Int
    public var users: Int
    public var firstUserID: Int
    /// Zipf exponent for movie ids; 0 = uniform.
    public var zipf: Double
    public var batchSize: Int
    /// Share of watchlist reads that ask for the export instead, 0...1.
    public var exportShare: Double

    public init(
        scenario: Scenario, mix: Mix = .default, movies: Int = 10_000, firstMovieID: Int = 1, users: Int = 200,
        firstUserID: Int = 1, zipf: Double = 1.0, batchSize: Int = 50, exportShare: Double = 0.2
    ) {
        self.scenario = scenario
        self.mix = mix
        self.movies = max(1, movies)
        self.firstMovieID = firstMovieID
        self.users = max(1, users)
        self.firstUserID = firstUserID
        self.zipf = zipf
        self.batchSize = max(1, batchSize)
        self.exportShare = exportShare
    }
}

/// Makes one virtual user's requests: its own generator, the shared Zipf table.
///
/// A value type owned by one worker task; cheap to copy (the table is shared storage).
public struct RequestGenerator: Sendable {
    public let spec: WorkloadSpec
    private let zipf: ZipfSampler
    private let mixTable: [(Scenario, Int)]
    private let mixTotal: Int
    private var random: SplitMix64
    private var createdMovies = 0
    private let userIndex: Int

    public init(spec: WorkloadSpec, zipf: ZipfSampler, seed: UInt64, user index: Int) {
        self.spec = spec
        self.zipf = zipf
        mixTable = spec.mix.cumulative
        mixTotal = mixTable.last?.1 ?? 1
        random = SplitMix64(seed: seed, stream: index)
        userIndex = index
    }

    /// The next request of this user's scenario.
    public mutating func next() -> LoadRequest {
        request(for: spec.scenario == .mixed ? drawFromMix() : spec.scenario)
    }

    private mutating func drawFromMix() -> Scenario {
        let draw = Int(random.next() % UInt64(mixTotal))
        for (scenario, bound) in mixTable where draw < bound { return scenario }
        return .reads
    }

    private mutating func movieID() -> Int { spec.firstMovieID + zipf.next(using: &random) - 1 }
    private mutating func userID() -> Int { spec.firstUserID + Int(random.next() % UInt64(spec.users)) }

    private mutating func request(for scenario: Scenario) -> LoadRequest {
        switch scenario {
        case .reads, .mixed:
            return LoadRequest(method: .GET, path: "/api/movies/\(movieID())", endpoint: .movieByID)
        case .batch:
            var json = "{\"movie_ids\":["
            for index in 0..<spec.batchSize {
                if index > 0 { json += "," }
                json += String(movieID())
            }
            json += "]}"
            return .json(.POST, "/api/movies/batch", json, endpoint: .movieBatch)
        case .watchlist:
            let user = userID()
            if random.nextUnit() < spec.exportShare {
                return LoadRequest(method: .GET, path: "/api/watchlist/user/\(user)/export", endpoint: .watchlistExport)
            }
            return LoadRequest(method: .GET, path: "/api/watchlist/user/\(user)", endpoint: .watchlist)
        case .writes:
            let draw = random.nextUnit()
            let user = userID()
            // Uniform movies: a write spread over the catalogue, so adds and removes of the
            // same pair meet now and then (201/409 and 204/404 both happen).
            let movie = spec.firstMovieID + Int(random.next() % UInt64(spec.movies))
            if draw < 0.45 {
                return .json(.POST, "/api/watchlist", "{\"user_id\":\(user),\"movie_id\":\(movie)}", endpoint: .watchlistAdd)
            } else if draw < 0.9 {
                return LoadRequest(method: .DELETE, path: "/api/watchlist/user/\(user)/movie/\(movie)", endpoint: .watchlistRemove)
            }
            createdMovies += 1
            let title = "Loadtest \(userIndex)-\(createdMovies)-\(random.next() % 1_000_000)"
            return .json(
                .POST, "/api/movies",
                "{\"title\":\"\(title)\",\"director\":\"Loadtest\",\"year\":2024,\"genre\":\"Benchmark\",\"rating\":7.5}",
                endpoint: .movieCreate)
        }
    }
}
