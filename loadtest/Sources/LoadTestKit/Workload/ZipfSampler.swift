#if canImport(Glibc)
import Glibc
#endif

/// Draws ranks 1...n with probability proportional to 1 / rank^s (Zipf's law); s = 0 is uniform.
///
/// Why a table: the cumulative distribution is computed once (n doubles; 80 KB for 10,000
/// movies), shared by every virtual user (an immutable array), and each draw is one binary
/// search, O(log n), exact for any s ≥ 0. Rank 1 is the most popular item.
public struct ZipfSampler: Sendable {
    public let count: Int
    public let exponent: Double
    /// cdf[k] = P(rank ≤ k + 1); the last element is 1.
    private let cdf: [Double]

    /// - Parameters:
    ///   - count: n ≥ 1, the number of items.
    ///   - exponent: s ≥ 0; 1.0 is classic Zipf, 0 is uniform.
    public init(count: Int, exponent: Double) {
        precondition(count >= 1, "ZipfSampler needs at least one item")
        precondition(exponent >= 0 && exponent.isFinite, "Zipf exponent must be finite and ≥ 0")
        self.count = count
        self.exponent = exponent
        if exponent == 0 {
            cdf = []
            return
        }
        var weights = [Double](repeating: 0, count: count)
        var total = 0.0
        for rank in 1...count {
            total += 1 / Glibc.pow(Double(rank), exponent)
            weights[rank - 1] = total
        }
        for index in weights.indices { weights[index] /= total }
        weights[count - 1] = 1
        cdf = weights
    }

    /// The probability of `rank` (1-based) in theory, for tests and reports.
    public func probability(ofRank rank: Int) -> Double {
        precondition((1...count).contains(rank))
        if cdf.isEmpty { return 1 / Double(count) }
        return rank == 1 ? cdf[0] : cdf[rank - 1] - cdf[rank - 2]
    }

    /// A rank in 1...count.
    public func next(using generator: inout SplitMix64) -> Int {
        if cdf.isEmpty { return Int(generator.next() % UInt64(count)) + 1 }
        let u = generator.nextUnit()
        // First index whose cumulative probability exceeds u.
        var low = 0
        var high = count - 1
        while low < high {
            let mid = (low + high) / 2
            if cdf[mid] > u { high = mid } else { low = mid + 1 }
        }
        return low + 1
    }
}
