import Logging

extension JSONLogHandler {
    /// Makes ``JSONLogHandler`` the process's log handler (`LoggingSystem.bootstrap`, which
    /// may run once per process: call it from `main`, before anything logs).
    /// - Parameter metadataProvider: adds what the current task knows to each line (the
    ///   services: the request and trace ids of the request being served).
    /// - Returns: the process's logger, labelled `service`.
    @discardableResult
    public static func bootstrap(
        service: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil
    ) -> Logger {
        LoggingSystem.bootstrap(
            { _, provider in JSONLogHandler(service: service, level: level, metadataProvider: provider) },
            metadataProvider: metadataProvider)
        return Logger(label: service)
    }
}

extension Logger {
    /// A logger writing JSON lines to `sink`, without touching the process's bootstrap
    /// (tests, and processes that log before or without one).
    public init(
        service: String, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil,
        sink: LogSink = .standardOutput
    ) {
        self.init(label: service) { _ in
            JSONLogHandler(service: service, level: level, metadataProvider: metadataProvider, sink: sink)
        }
    }
}

extension Logger.Level {
    /// A `LOG_LEVEL` value: `trace`, `debug`, `info`, `notice`, `warning`, `error`,
    /// `critical`, any case.
    public init?(setting: String) {
        self.init(rawValue: setting.lowercased())
    }
}
