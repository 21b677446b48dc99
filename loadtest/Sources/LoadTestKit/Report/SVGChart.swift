#if canImport(Glibc)
import Glibc
#endif

/// A small line chart rendered as inline SVG: no script, no external file, so the HTML
/// report opens anywhere and can be mailed as one file.
struct SVGChart {
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
        var dashed = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var width = 720.0
    var height = 260.0
    /// Logarithmic y axis (latencies spanning decades).
    var logY = false
    /// Custom x tick labels (value, text); default: evenly spaced numbers.
    var xTicks: [(Double, String)]? = nil
    /// A y range floor/ceiling to force (hit rates: 0...1).
    var yRange: ClosedRange<Double>? = nil
    var formatY: (Double) -> String = { String(format3: $0) }

    func render() -> String {
        let left = 64.0, right = 16.0, top = 28.0, bottom = 44.0
        let plotW = width - left - right, plotH = height - top - bottom
        let all = series.flatMap(\.points).filter { $0.y.isFinite && $0.x.isFinite }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
        svg += "class=\"chart\" role=\"img\" aria-label=\"\(escapeHTML(title))\">"
        svg += "<text x=\"\(left)\" y=\"18\" class=\"title\">\(escapeHTML(title))</text>"
        guard !all.isEmpty else {
            svg += "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\" class=\"muted\">no data</text></svg>"
            return svg
        }
        let minX = all.map(\.x).min() ?? 0
        var maxX = all.map(\.x).max() ?? 1
        if maxX <= minX { maxX = minX + 1 }
        var minY = yRange?.lowerBound ?? (logY ? max(all.map(\.y).filter { $0 > 0 }.min() ?? 0.001, 0.001) : 0)
        var maxY = yRange?.upperBound ?? (all.map(\.y).max() ?? 1)
        if logY {
            minY = pow(10, floor(log10(minY)))
            maxY = pow(10, ceil(log10(max(maxY, minY * 10))))
        } else if yRange == nil {
            maxY = niceCeiling(maxY)
        }
        if maxY <= minY { maxY = minY + 1 }
        func px(_ x: Double) -> Double { left + (x - minX) / (maxX - minX) * plotW }
        func py(_ y: Double) -> Double {
            if logY {
                let clamped = max(y, minY)
                return top + plotH - (log10(clamped) - log10(minY)) / (log10(maxY) - log10(minY)) * plotH
            }
            return top + plotH - (y - minY) / (maxY - minY) * plotH
        }
        // Grid and y ticks.
        var yTicks: [Double] = []
        if logY {
            var tick = minY
            while tick <= maxY * 1.0001 {
                yTicks.append(tick)
                tick *= 10
            }
        } else {
            yTicks = (0...4).map { minY + (maxY - minY) * Double($0) / 4 }
        }
        for tick in yTicks {
            let y = py(tick)
            svg += "<line x1=\"\(left)\" y1=\"\(f(y))\" x2=\"\(left + plotW)\" y2=\"\(f(y))\" class=\"grid\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(f(y + 4))\" text-anchor=\"end\" class=\"tick\">\(escapeHTML(formatY(tick)))</text>"
        }
        let ticks = xTicks ?? (0...5).map { index in
            let value = minX + (maxX - minX) * Double(index) / 5
            return (value, String(format3: (value * 10).rounded() / 10))
        }
        for (value, label) in ticks where value >= minX && value <= maxX {
            let x = px(value)
            svg += "<line x1=\"\(f(x))\" y1=\"\(top + plotH)\" x2=\"\(f(x))\" y2=\"\(top + plotH + 4)\" class=\"axis\"/>"
            svg += "<text x=\"\(f(x))\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\" class=\"tick\">\(escapeHTML(label))</text>"
        }
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" class=\"frame\"/>"
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\" class=\"label\">\(escapeHTML(xLabel))</text>"
        svg += "<text transform=\"translate(14 \(top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\" class=\"label\">\(escapeHTML(yLabel))</text>"
        // Lines.
        for line in series {
            let points = line.points.filter { $0.y.isFinite && $0.x.isFinite }
            guard !points.isEmpty else { continue }
            let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\""
            svg += line.dashed ? " stroke-dasharray=\"5 4\"" : ""
            svg += " points=\"\(path)\"><title>\(escapeHTML(line.name))</title></polyline>"
            if points.count <= 40 {
                for point in points {
                    svg += "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"2.5\" fill=\"\(line.color)\">"
                    svg += "<title>\(escapeHTML(line.name)): \(escapeHTML(formatY(point.y)))</title></circle>"
                }
            }
        }
        // Legend.
        var legendX = left + 8
        for line in series {
            svg += "<rect x=\"\(f(legendX))\" y=\"\(top + 6)\" width=\"12\" height=\"4\" fill=\"\(line.color)\"/>"
            svg += "<text x=\"\(f(legendX + 16))\" y=\"\(top + 12)\" class=\"legend\">\(escapeHTML(line.name))</text>"
            legendX += 28 + Double(line.name.count) * 6.5
        }
        svg += "</svg>"
        return svg
    }

    private func f(_ value: Double) -> String { String(format3: (value * 10).rounded() / 10) }

    private func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(value)))
        for step in [1.0, 2, 2.5, 5, 10] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }
}

/// Escapes text for HTML and SVG content and attribute values.
func escapeHTML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(character)
        }
    }
    return out
}
