import Reactor

/// Durations as people type them: `20s`, `500ms`, `2m`, `1h`, `1m30s`; a bare number is seconds.
public enum DurationText {
    public static func parse(_ text: String, option: String = "duration") throws(LoadTestError) -> Duration {
        let trimmed = text.trimmingSpaces().lowercased()
        guard !trimmed.isEmpty else { throw LoadTestError(.invalidArgument, "--\(option): empty duration") }
        if let seconds = Double(trimmed), seconds >= 0 { return .nanoseconds(Int64(seconds * 1e9)) }
        var total = 0.0
        var rest = Substring(trimmed)
        let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("h", 3600), ("m", 60), ("s", 1)]
        while !rest.isEmpty {
            let number = rest.prefix(while: { $0.isNumber || $0 == "." })
            guard let value = Double(number) else {
                throw LoadTestError(.invalidArgument, "--\(option): '\(text)' is not a duration like 20s, 500ms or 2m")
            }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else {
                throw LoadTestError(.invalidArgument, "--\(option): '\(text)' needs a unit (ms, s, m, h)")
            }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        return .nanoseconds(Int64(total * 1e9))
    }
}

extension Duration {
    /// In seconds, for reports (`nanoseconds` comes from the reactor).
    public var seconds: Double { Double(nanoseconds) / 1e9 }
}
