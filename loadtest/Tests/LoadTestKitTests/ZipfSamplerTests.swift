import LoadTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ZipfSamplerTests {
    /// Pearson's chi-square of `draws` against the sampler's own theory, over the first
    /// `bins − 1` ranks and one bin for the tail (keeps every expected count ≥ 5).
    private func chiSquare(_ sampler: ZipfSampler, draws: Int, bins: Int, seed: UInt64) -> Double {
        var random = SplitMix64(seed: seed)
        var observed = [Int](repeating: 0, count: bins)
        for _ in 0..<draws {
            let rank = sampler.next(using: &random)
            observed[min(rank, bins) - 1] += 1
        }
        var statistic = 0.0
        var tail = 1.0
        for bin in 0..<bins {
            let p: Double
            if bin < bins - 1 {
                p = sampler.probability(ofRank: bin + 1)
                tail -= p
            } else {
                p = tail
            }
            let expected = p * Double(draws)
            statistic += (Double(observed[bin]) - expected) * (Double(observed[bin]) - expected) / expected
        }
        return statistic
    }

    @Test func zipfOneMatchesTheoryByChiSquare() {
        let sampler = ZipfSampler(count: 10_000, exponent: 1.0)
        // 50 bins → 49 degrees of freedom; the 99.9% critical value is 85.35.
        let statistic = chiSquare(sampler, draws: 200_000, bins: 50, seed: 42)
        #expect(statistic < 85.35, "chi-square \(statistic) too large for Zipf(1.0)")
    }

    @Test func uniformWhenExponentIsZero() {
        let sampler = ZipfSampler(count: 20, exponent: 0)
        #expect(abs(sampler.probability(ofRank: 7) - 0.05) < 1e-12)
        // 20 bins → 19 degrees of freedom; 99.9% critical value 43.82.
        let statistic = chiSquare(sampler, draws: 100_000, bins: 20, seed: 7)
        #expect(statistic < 43.82, "chi-square \(statistic) too large for uniform")
    }

    @Test func rankFrequencySlopeIsMinusTheExponent() {
        // On log-log axes, frequency against rank is a line of slope −s for the top ranks.
        for exponent in [0.8, 1.0, 1.2] {
            let sampler = ZipfSampler(count: 10_000, exponent: exponent)
            var random = SplitMix64(seed: 2024)
            var counts = [Int](repeating: 0, count: 21)
            for _ in 0..<400_000 {
                let rank = sampler.next(using: &random)
                if rank <= 20 { counts[rank] += 1 }
            }
            let xs = (1...20).map { log(Double($0)) }
            let ys = (1...20).map { log(Double(counts[$0])) }
            let meanX = xs.reduce(0, +) / 20, meanY = ys.reduce(0, +) / 20
            var covariance = 0.0
            var variance = 0.0
            for (x, y) in zip(xs, ys) {
                covariance += (x - meanX) * (y - meanY)
                variance += (x - meanX) * (x - meanX)
            }
            let slope = covariance / variance
            #expect(abs(slope + exponent) < 0.05, "slope \(slope) for s = \(exponent)")
        }
    }

    @Test func drawsStayInRangeAndAreReproducible() {
        let sampler = ZipfSampler(count: 100, exponent: 1.0)
        var first = SplitMix64(seed: 9), second = SplitMix64(seed: 9)
        for _ in 0..<10_000 {
            let rank = sampler.next(using: &first)
            #expect((1...100).contains(rank))
            #expect(rank == sampler.next(using: &second))
        }
    }

    @Test func streamsOfOneSeedDiffer() {
        var a = SplitMix64(seed: 1, stream: 0), b = SplitMix64(seed: 1, stream: 1)
        #expect(a.next() != b.next())
    }
}
