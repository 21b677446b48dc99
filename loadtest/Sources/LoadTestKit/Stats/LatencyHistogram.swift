import Histogram

/// The histogram layout every latency figure uses, so that any two can be merged.
///
/// Values are microseconds from 1 µs to 60 s at 3 significant digits (±0.1%): fine enough
/// for loopback latencies of tens of microseconds, wide enough for a stalled server. A
/// value above the range is clamped to it, so it still counts (as a 60 s outlier).
public enum LatencyHistogram {
    public static let highestMicroseconds: UInt64 = 60_000_000

    /// A full-precision histogram (≈140 KB): per endpoint and per loop.
    public static func make() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .three)
    }

    /// A coarse one (2 digits, ≈20 KB) for each second of the time series.
    public static func makeCoarse() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .two)
    }

    /// Microseconds for `nanoseconds`, at least 1 and at most the trackable maximum.
    @inline(__always)
    public static func microseconds(_ nanoseconds: UInt64) -> UInt64 {
        min(max(nanoseconds / 1000, 1), highestMicroseconds)
    }
}
