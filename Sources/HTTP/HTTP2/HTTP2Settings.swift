/// One SETTINGS parameter (RFC 9113 §6.5.2) as it travels: identifier and value.
public struct HTTP2Setting: Hashable, Sendable {
    public struct Identifier: RawRepresentable, Hashable, Sendable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let headerTableSize = Identifier(rawValue: 0x1)
        public static let enablePush = Identifier(rawValue: 0x2)
        public static let maxConcurrentStreams = Identifier(rawValue: 0x3)
        public static let initialWindowSize = Identifier(rawValue: 0x4)
        public static let maxFrameSize = Identifier(rawValue: 0x5)
        public static let maxHeaderListSize = Identifier(rawValue: 0x6)
    }

    public var identifier: Identifier
    public var value: UInt32

    public init(_ identifier: Identifier, _ value: UInt32) {
        self.identifier = identifier
        self.value = value
    }
}

/// The values of the SETTINGS parameters that one endpoint announced, with RFC 9113's
/// initial values until it announces others.
public struct HTTP2SettingsValues: Hashable, Sendable {
    public var headerTableSize: UInt32 = 4096
    public var enablePush: Bool = true
    /// nil: unlimited, as RFC 9113 §6.5.2 starts.
    public var maxConcurrentStreams: UInt32? = nil
    public var initialWindowSize: UInt32 = 65_535
    public var maxFrameSize: UInt32 = 16_384
    /// nil: unlimited.
    public var maxHeaderListSize: UInt32? = nil

    public init() {}

    /// Smallest and largest SETTINGS_MAX_FRAME_SIZE RFC 9113 §6.5.2 allows.
    public static let maxFrameSizeRange: ClosedRange<UInt32> = 16_384...16_777_215
    /// Largest flow-control window (2^31 - 1).
    public static let maxWindowSize: UInt32 = 0x7fff_ffff

    /// Checks `setting` against RFC 9113 §6.5.2's bounds and records it; unknown identifiers
    /// are ignored, as the RFC requires.
    /// - Throws: ``HTTP2ProtocolError`` (connection scope) for a value out of bounds.
    public mutating func apply(_ setting: HTTP2Setting) throws(HTTP2ProtocolError) {
        switch setting.identifier {
        case .headerTableSize:
            headerTableSize = setting.value
        case .enablePush:
            guard setting.value <= 1 else { throw .connection(.protocolError, "SETTINGS_ENABLE_PUSH not 0 or 1") }
            enablePush = setting.value == 1
        case .maxConcurrentStreams:
            maxConcurrentStreams = setting.value
        case .initialWindowSize:
            guard setting.value <= Self.maxWindowSize else {
                throw .connection(.flowControlError, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
            }
            initialWindowSize = setting.value
        case .maxFrameSize:
            guard Self.maxFrameSizeRange.contains(setting.value) else {
                throw .connection(.protocolError, "SETTINGS_MAX_FRAME_SIZE outside 16384...16777215")
            }
            maxFrameSize = setting.value
        case .maxHeaderListSize:
            maxHeaderListSize = setting.value
        default:
            break
        }
    }
}
