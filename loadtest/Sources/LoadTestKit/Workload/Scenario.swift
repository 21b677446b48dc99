/// The kinds of traffic a run can send, over the real API through the gateway (API.md).
public enum Scenario: String, Sendable, CaseIterable, Codable {
    /// `GET /api/movies/{id}`, ids drawn by Zipf.
    case reads
    /// `POST /api/movies/batch` with `batchSize` Zipf-drawn ids.
    case batch
    /// `GET /api/watchlist/user/{id}` and, a share of the time, its `/export`.
    case watchlist
    /// Watchlist adds and removes, and movie creation.
    case writes
    /// A weighted mix of the four above (``Mix``).
    case mixed
}

/// The weights of a mixed run, parsed from `reads=80,batch=10,watchlist=5,writes=5`.
public struct Mix: Sendable, Hashable, Codable, CustomStringConvertible {
    /// (scenario, weight) in the order given; weights are positive.
    public private(set) var weights: [Scenario: Int]

    public static let `default` = Mix(weights: [.reads: 80, .batch: 10, .watchlist: 5, .writes: 5])

    public init(weights: [Scenario: Int]) {
        self.weights = weights.filter { $0.value > 0 }
    }

    /// Parses `name=weight` pairs separated by commas; weights are non-negative integers
    /// (relative: they need not add up to 100).
    public init(parsing text: String) throws(LoadTestError) {
        var weights: [Scenario: Int] = [:]
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
            guard pair.count == 2, let scenario = Scenario(rawValue: pair[0]), scenario != .mixed else {
                throw LoadTestError(
                    .invalidArgument,
                    "--mix: '\(part)' is not name=weight with name one of reads, batch, watchlist, writes")
            }
            guard let weight = Int(pair[1]), weight >= 0 else {
                throw LoadTestError(.invalidArgument, "--mix: weight '\(pair[1])' of \(pair[0]) is not a whole number ≥ 0")
            }
            weights[scenario, default: 0] += weight
        }
        guard weights.values.contains(where: { $0 > 0 }) else {
            throw LoadTestError(.invalidArgument, "--mix: '\(text)' gives no scenario a positive weight")
        }
        self.init(weights: weights)
    }

    /// Scenarios in a stable order with their cumulative weights, for drawing.
    var cumulative: [(Scenario, Int)] {
        var total = 0
        return [Scenario.reads, .batch, .watchlist, .writes].compactMap { scenario in
            guard let weight = weights[scenario] else { return nil }
            total += weight
            return (scenario, total)
        }
    }

    public var description: String {
        [Scenario.reads, .batch, .watchlist, .writes].compactMap { s in weights[s].map { "\(s.rawValue)=\($0)" } }
            .joined(separator: ",")
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
