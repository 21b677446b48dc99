/// Reads samples out of the Prometheus text exposition format (version 0.0.4).
///
/// Only what the hit-rate check needs: the sum of one metric's samples over all label
/// sets. Comments and other metrics are skipped; label values may hold spaces, braces and
/// escaped quotes, so the label block is scanned, not split.
public enum PrometheusText {
    /// The sum of every sample of `metric` (exact name, any labels), or nil when none exists.
    public static func sum(_ metric: String, in text: String) -> Double? {
        var total: Double? = nil
        for line in text.split(whereSeparator: \.isNewline) {
            guard let (name, value) = sample(line), name == metric else { continue }
            total = (total ?? 0) + value
        }
        return total
    }

    /// Splits one sample line into its metric name and value; nil for comments and junk.
    static func sample(_ line: Substring) -> (name: Substring, value: Double)? {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        guard let first = trimmed.first, first != "#" else { return nil }
        var index = trimmed.startIndex
        while index < trimmed.endIndex, trimmed[index] != "{", trimmed[index] != " ", trimmed[index] != "\t" {
            index = trimmed.index(after: index)
        }
        let name = trimmed[trimmed.startIndex..<index]
        guard !name.isEmpty else { return nil }
        if index < trimmed.endIndex, trimmed[index] == "{" {
            // Skip the label block, honouring quoted values with backslash escapes.
            var inQuotes = false
            var escaped = false
            index = trimmed.index(after: index)
            while index < trimmed.endIndex {
                let character = trimmed[index]
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inQuotes.toggle()
                } else if character == "}" && !inQuotes {
                    break
                }
                index = trimmed.index(after: index)
            }
            guard index < trimmed.endIndex else { return nil }
            index = trimmed.index(after: index)
        }
        let rest = trimmed[index...].split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let valueText = rest.first else { return nil }
        let value: Double?
        switch valueText {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default: value = Double(valueText)
        }
        guard let value else { return nil }
        return (name, value)
    }
}
