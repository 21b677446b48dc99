/// A metadata value that ``JSONLogHandler`` writes as fields of the line itself, in its own
/// order, rather than as one `"key": "description"` pair. Subclass it and override
/// ``writeFields(into:)``.
///
/// What it is for: a line logged for every request (an access log) carries ten fields; as a
/// `Logger.Metadata` dictionary they would cost a hash per key and come out in the
/// dictionary's order. Passed as one value (`metadata: ["access": .stringConvertible(record)]`,
/// the key is not written), they cost one dictionary entry and keep their order.
///
/// Why a class and not a protocol: the handler recognizes such a value with a cast on every
/// line, and a cast to a class walks a superclass chain where a cast to a protocol looks up
/// a conformance. Subclasses hold immutable, `Sendable` fields (hence `@unchecked`).
open class JSONLogFields: CustomStringConvertible, @unchecked Sendable {
    public init() {}

    /// Writes `,"key":value` pairs (each with its leading comma) into `line`.
    open func writeFields(into line: inout JSONLogLine) {}

    /// The fields as JSON text, for handlers other than ``JSONLogHandler``.
    public var description: String {
        JSONLogLine.withLine { line in
            writeFields(into: &line)
            return String(line.text.dropFirst())
        }
    }
}
