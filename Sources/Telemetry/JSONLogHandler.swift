import Logging

/// Marquee's log format as a swift-log `LogHandler`: one JSON object per line,
/// `{"ts":"2026-11-25T16:22:47.123Z","level":"info","service":"movie-service","msg":"…",…}`,
/// then the metadata: the handler's own, its metadata provider's (the request and trace
/// ids of the request being served) and the call's, keys sorted
/// within each. A ``JSONLogFields`` value is written as its own fields, in
/// order (the access logs); an error passed to the call becomes `"error"`.
///
/// Values keep their JSON types: `.stringConvertible` of an integer, a `Double` or a `Bool`
/// is written as a number or a boolean, anything else as its description. Callers pass
/// fields explicitly; nothing ever logs a body, a password, a hash or a token.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    /// The process's name (`movie-service`, `gateway`), written as `"service"`.
    public let service: String
    let sink: LogSink

    public init(
        service: String, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil,
        sink: LogSink = .standardOutput
    ) {
        self.service = service
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        JSONLogLine.withLine { line in
            line.raw("{\"ts\":")
            line.timestampNow()
            line.key("level")
            line.string(event.level.rawValue)
            line.field("service", service)
            line.key("msg")
            line.string(event.message.description)
            if !metadata.isEmpty { Self.write(metadata, into: &line) }
            if let provided = metadataProvider?.get(), !provided.isEmpty { Self.write(provided, into: &line) }
            if let own = event.metadata, !own.isEmpty { Self.write(own, into: &line) }
            if let error = event.error { line.field("error", String(describing: error)) }
            line.raw("}\n")
            line.withBytes { sink.write($0) }
        }
    }

    /// The pairs of `metadata`, keys sorted (one pair is written without sorting).
    static func write(_ metadata: Logger.Metadata, into line: inout JSONLogLine) {
        if metadata.count == 1, let (key, value) = metadata.first {
            return write(key, value, into: &line)
        }
        for key in metadata.keys.sorted() {
            if let value = metadata[key] { write(key, value, into: &line) }
        }
    }

    static func write(_ key: String, _ value: Logger.MetadataValue, into line: inout JSONLogLine) {
        if case .stringConvertible(let convertible) = value, let fields = convertible as? JSONLogFields {
            return fields.writeFields(into: &line)
        }
        line.key(escaping: key)
        write(value, into: &line)
    }

    static func write(_ value: Logger.MetadataValue, into line: inout JSONLogLine) {
        switch value {
        case .string(let text):
            line.string(text)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as Int: line.integer(number)
            case let number as Int64: line.integer(Int(number))
            case let number as Int32: line.integer(Int(number))
            case let number as UInt16: line.integer(Int(number))
            case let flag as Bool: flag ? line.raw("true") : line.raw("false")
            case let number as Double where number.isFinite: line.json(number.description)
            default: line.string(convertible.description)
            }
        case .dictionary(let nested):
            line.append(UInt8(ascii: "{"))
            var first = true
            for key in nested.keys.sorted() {
                guard let value = nested[key] else { continue }
                if !first { line.append(UInt8(ascii: ",")) }
                first = false
                line.string(key)
                line.append(UInt8(ascii: ":"))
                write(value, into: &line)
            }
            line.append(UInt8(ascii: "}"))
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                write(value, into: &line)
            }
            line.append(UInt8(ascii: "]"))
        }
    }
}
