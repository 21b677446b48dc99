/// Environment variables overlaid by command-line flags: the gateway's small settings
/// parser.
///
/// Why not ServiceKit's: the gateway depends on HTTP, TLS and AuthToken only (DESIGN.md),
/// and what it needs is thirty lines. Every setting `NAME_WITH_UNDERSCORES` has the flag
/// `--name-with-underscores VALUE` (or `--name=VALUE`); a flag wins over the variable.
/// Boolean settings also accept a bare flag (`--access-log` means true).
struct SettingsSource: Sendable {
    private var values: [String: String]

    /// - Parameters:
    ///   - environment: the process environment (or a test's).
    ///   - arguments: the command-line arguments after the program name.
    ///   - known: the setting names that exist, for flag validation.
    ///   - booleans: the names that may appear as a bare flag.
    /// - Throws: ``GatewayError`` `.helpRequested` for `--help`/`-h`, `.unknownFlag`.
    init(
        environment: [String: String], arguments: [String], known: Set<String>, booleans: Set<String>
    ) throws(GatewayError) {
        values = environment.filter { known.contains($0.key) }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--help" || argument == "-h" { throw GatewayError(.helpRequested, "help") }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw GatewayError(.unknownFlag, "unexpected argument '\(argument)' (see --help)")
            }
            var flag = String(argument.dropFirst(2))
            var value: String?
            if let equals = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: equals)...])
                flag = String(flag[..<equals])
            }
            let name = Self.settingName(flag: flag)
            guard known.contains(name) else {
                throw GatewayError(.unknownFlag, "unknown flag '--\(flag)' (see --help)")
            }
            if value == nil {
                if index < arguments.count, !arguments[index].hasPrefix("--") {
                    value = arguments[index]
                    index += 1
                } else if booleans.contains(name) {
                    value = "true"
                } else {
                    throw GatewayError(.invalidSetting, "flag '--\(flag)' needs a value")
                }
            }
            values[name] = value
        }
    }

    /// `user-service-url` → `USER_SERVICE_URL`.
    static func settingName(flag: String) -> String {
        String(flag.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// `USER_SERVICE_URL` → `--user-service-url`.
    static func flag(settingName: String) -> String {
        "--" + String(settingName.lowercased().map { $0 == "_" ? "-" : $0 })
    }

    /// The raw value, or nil when unset or empty.
    func string(_ name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    func int(_ name: String, default fallback: Int, range: ClosedRange<Int> = 0...Int.max) throws(GatewayError) -> Int {
        guard let text = string(name) else { return fallback }
        guard let value = Int(text.trimmedSpaces), range.contains(value) else {
            throw GatewayError(.invalidSetting, "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func double(_ name: String, default fallback: Double) throws(GatewayError) -> Double {
        guard let text = string(name) else { return fallback }
        guard let value = Double(text), value >= 0, value.isFinite else {
            throw GatewayError(.invalidSetting, "\(name) must be a non-negative number")
        }
        return value
    }

    func bool(_ name: String, default fallback: Bool) throws(GatewayError) -> Bool {
        guard let text = string(name) else { return fallback }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw GatewayError(.invalidSetting, "\(name) must be true or false")
        }
    }

    /// A duration: `30` (seconds), `1.5s`, `250ms`, `2m`.
    func duration(_ name: String, default fallback: Duration) throws(GatewayError) -> Duration {
        guard let text = string(name) else { return fallback }
        guard let value = Self.parseDuration(text) else {
            throw GatewayError(.invalidSetting, "\(name) must be a duration such as 30, 1.5s, 250ms or 2m")
        }
        return value
    }

    static func parseDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmedSpaces.lowercased()
        let (number, scale): (Substring, Double)
        if trimmed.hasSuffix("ms") {
            (number, scale) = (trimmed.dropLast(2), 1e-3)
        } else if trimmed.hasSuffix("s") {
            (number, scale) = (trimmed.dropLast(1), 1)
        } else if trimmed.hasSuffix("m") {
            (number, scale) = (trimmed.dropLast(1), 60)
        } else {
            (number, scale) = (trimmed[...], 1)
        }
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        return .nanoseconds(Int64((value * scale * 1e9).rounded()))
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (no Foundation here).
    var trimmedSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
