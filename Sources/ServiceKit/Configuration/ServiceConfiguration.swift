#if canImport(Glibc)
import Glibc
#endif

/// Settings read from the environment and the command line; a flag wins over its
/// environment variable, which wins over the default.
///
/// ```swift
/// let config = ServiceConfiguration.load(service: "movie-service", settings: [
///     .host, .port(default: 8002), .loops, .loopAffinity, .logLevel, .databaseURL(default: "postgres://..."), .redisURL,
/// ])
/// let port = config.int("PORT")
/// ```
/// ``parse(settings:environment:arguments:)`` is pure (tests); ``load(service:settings:)``
/// handles `--help` (exit 0) and errors (a message on stderr, exit 2).
public struct ServiceConfiguration: Sendable {
    public let settings: [Setting]
    private let values: [String: String]

    public enum ParseOutcome: Sendable {
        case configuration(ServiceConfiguration)
        case help
    }

    /// A bad value, an unknown flag, a missing required setting.
    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Parses `arguments` (without the program name) over `environment`.
    public static func parse(
        settings: [Setting], environment: [String: String], arguments: [String]
    ) throws(Error) -> ParseOutcome {
        var values: [String: String] = [:]
        for setting in settings {
            if let value = environment[setting.name] {
                values[setting.name] = value
            } else if let value = setting.defaultValue {
                values[setting.name] = value
            }
        }
        var index = 0
        var fromFlags: Set<String> = []
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--help" || argument == "-h" { return .help }
            guard argument.hasPrefix("--") else { throw Error(message: "unexpected argument '\(argument)'") }
            let name: String
            let value: String
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            } else {
                name = argument
                guard let setting = settings.first(where: { $0.flag == name }) else {
                    throw Error(message: "unknown option '\(name)' (see --help)")
                }
                if setting.kind == .bool && (index >= arguments.count || arguments[index].hasPrefix("--")) {
                    value = "true"  // a bare boolean flag: `--auth-required`
                } else {
                    guard index < arguments.count else { throw Error(message: "option '\(name)' needs a value") }
                    value = arguments[index]
                    index += 1
                }
            }
            guard let setting = settings.first(where: { $0.flag == name }) else {
                throw Error(message: "unknown option '\(name)' (see --help)")
            }
            values[setting.name] = value
            fromFlags.insert(setting.name)
        }
        for setting in settings {
            guard let value = values[setting.name] else {
                if setting.isRequired {
                    throw Error(message: "\(setting.name) is required (environment variable or \(setting.flag))")
                }
                continue
            }
            let source = fromFlags.contains(setting.name) ? setting.flag : setting.name
            if let problem = Self.problem(with: value, kind: setting.kind) {
                let shown = setting.isSecret ? "" : " '\(value)'"
                throw Error(message: "invalid value\(shown) for \(source): \(problem)")
            }
        }
        return .configuration(ServiceConfiguration(settings: settings, values: values))
    }

    /// Reads the process's environment and arguments; prints help and exits 0 for
    /// `--help`, prints the problem and exits 2 for bad input.
    public static func load(service: String, settings: [Setting]) -> ServiceConfiguration {
        let environment = processEnvironment()
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            switch try parse(settings: settings, environment: environment, arguments: arguments) {
            case .configuration(let configuration):
                return configuration
            case .help:
                writeAll(1, helpText(service: service, settings: settings))
                exit(0)
            }
        } catch {
            writeAll(2, "\(service): \(error.message)\nRun '\(service) --help' for the settings.\n")
            exit(2)
        }
    }

    /// The process's environment variables.
    public static func processEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return environment
    }

    /// `--help`: every setting with its flag, environment variable, default and help.
    public static func helpText(service: String, settings: [Setting]) -> String {
        var text = "Usage: \(service) [options]\n\nEvery option is also an environment variable; a flag wins.\n\n"
        let width = settings.map { $0.flag.count + $0.name.count + 9 }.max() ?? 20
        for setting in settings {
            var left = "  \(setting.flag) <value>, \(setting.name)"
            if left.count < width { left += String(repeating: " ", count: width - left.count) }
            var line = left + "  " + setting.help
            if setting.isSecret {
                line += setting.isRequired ? " (required)" : ""
            } else if let value = setting.defaultValue {
                line += " [default: \(value.isEmpty ? "\"\"" : value)]"
            } else if setting.isRequired {
                line += " (required)"
            }
            text += line + "\n"
        }
        text += "  --help\(String(repeating: " ", count: max(2, width - 6)))Show this help and exit.\n"
        return text
    }

    /// Writes all of `text` to `fd` (stdout 1, stderr 2), for command-line messages.
    public static func writeAll(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        // Scoped pointer: valid for this synchronous write loop only.
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, base + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }

    static func problem(with value: String, kind: Setting.Kind) -> String? {
        switch kind {
        case .string: return nil
        case .int(let range):
            guard let number = Int(value) else { return "expected an integer" }
            return range.contains(number) ? nil : "expected \(range.lowerBound)…\(range.upperBound)"
        case .bool: return parseBool(value) == nil ? "expected true or false" : nil
        case .duration: return parseDuration(value) == nil ? "expected seconds (2.5) or a duration (500ms, 2s, 1m)" : nil
        case .list: return nil
        case .choice(let words):
            return words.contains(value.lowercased()) ? nil : "expected one of \(words.joined(separator: ", "))"
        case .url(let schemes):
            guard let colon = value.firstIndex(of: ":"), value[colon...].hasPrefix("://"),
                schemes.contains(value[..<colon].lowercased()), value.count > value.distance(from: value.startIndex, to: colon) + 3
            else { return "expected a URL starting with \(schemes.map { $0 + "://" }.joined(separator: " or "))" }
            return nil
        }
    }

    static func parseBool(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "true", "1", "yes", "on": true
        case "false", "0", "no", "off": false
        default: nil
        }
    }

    static func parseDuration(_ value: String) -> Duration? {
        let text = value.lowercased()
        var number = Substring(text)
        var scale = 1.0
        for (suffix, factor) in [("ms", 0.001), ("s", 1.0), ("m", 60.0)] where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let amount = Double(number), amount >= 0, amount.isFinite else { return nil }
        return .milliseconds(Int64((amount * scale * 1000).rounded()))
    }

    // MARK: Reading values (settings are declared, so a missing declaration is our bug)

    private func raw(_ name: String) -> String? {
        precondition(settings.contains { $0.name == name }, "setting \(name) was not declared")
        return values[name]
    }

    /// The value as given, nil when unset and without default.
    public func string(_ name: String) -> String? { raw(name) }

    public func int(_ name: String) -> Int? { raw(name).flatMap { Int($0) } }

    public func bool(_ name: String) -> Bool { raw(name).flatMap(Self.parseBool) ?? false }

    public func duration(_ name: String) -> Duration? { raw(name).flatMap(Self.parseDuration) }

    public func list(_ name: String) -> [String] {
        guard let value = raw(name) else { return [] }
        return value.split(separator: ",").map { JSONFields.trimmed(String($0)) }.filter { !$0.isEmpty }
    }

    /// A log-friendly view: every setting with secrets and URL credentials masked.
    public var redactedDescription: [(String, String)] {
        settings.map { setting in
            guard let value = values[setting.name] else { return (setting.name, "") }
            // A URL's credentials are masked whether or not the setting is marked secret
            // (`redis://:password@host`, `postgresql://user:password@host`).
            if case .url = setting.kind {
                if let at = value.lastIndex(of: "@"), let colon = value.firstIndex(of: ":") {
                    // scheme://user:password@host → scheme://***@host
                    return (setting.name, String(value[..<colon]) + "://***" + String(value[at...]))
                }
                return (setting.name, value)  // no credentials in it
            }
            if setting.isSecret { return (setting.name, value.isEmpty ? "" : "***") }
            return (setting.name, value)
        }
    }
}
