/// A metadata value that ``JSONLogHandler`` writes as fields of the line itself, in its own
/// order, rather than as one `"key": "description"` pair.
///
/// What it is for: a line logged for every request (an access log) carries ten fields; as a
/// `Logger.Metadata` dictionary they would cost a hash per key and come out in the
/// dictionary's order. Passed as one value (`metadata: ["access": .stringConvertible(record)]`,
/// the key is not written), they cost one dictionary entry and keep their order.
public protocol JSONLogFields: CustomStringConvertible, Sendable {
    /// Writes `,"key":value` pairs (each with its leading comma) into `line`.
    func writeFields(into line: inout JSONLogLine)
}

extension JSONLogFields {
    /// The fields as JSON text, for handlers other than ``JSONLogHandler``.
    public var description: String {
        var line = JSONLogLine(capacity: 256)
        writeFields(into: &line)
        return String(decoding: line.bytes.dropFirst(), as: UTF8.self)
    }
}
