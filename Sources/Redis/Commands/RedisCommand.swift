/// One command in RESP, the form Redis reads (`*2\r\n$3\r\nGET\r\n$7\r\nmovie:7\r\n`), written
/// as its arguments are appended: the connection hands these bytes to hiredis as they are
/// (`redisAsyncFormattedCommand`), so no argument array and no formatting pass per command.
///
/// The argument count is given first (it leads the encoding); a command that got fewer or more
/// arguments than announced is never sent (``isComplete``, ``RedisError/Code/protocolError``).
public struct RedisCommand: Sendable {
    /// The encoded command.
    public private(set) var bytes: [UInt8]
    /// Arguments announced and not appended yet (negative: too many were appended).
    private var remaining: Int

    /// Starts a command of `argumentCount` arguments (the name counts); `capacity` sizes the
    /// buffer for the arguments to come, in bytes.
    public init(argumentCount: Int, capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(16 + capacity)
        remaining = argumentCount
        withUnsafeTemporaryAllocation(byteCount: Self.scratchSize, alignment: 1) { scratch in
            // Scoped: the scratch buffer lives until this closure returns; `bytes` copies it.
            guard let base = scratch.baseAddress else { return }
            // `*<count>\r\n`: a header whose marker is `*` instead of `$`.
            let end = Self.writeHeader(length: argumentCount, at: base)
            base.storeBytes(of: UInt8(ascii: "*"), as: UInt8.self)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<end]))
        }
    }

    /// A command from its arguments, the name first.
    public init(_ arguments: [[UInt8]]) {
        var capacity = 0
        for argument in arguments { capacity += argument.count + 16 }
        self.init(argumentCount: arguments.count, capacity: capacity)
        for argument in arguments { append(argument) }
    }

    /// Whether every announced argument, and no more, has been appended (and there is one).
    public var isComplete: Bool { remaining == 0 && bytes.count > Self.emptyLength }

    /// The length of a command of no arguments (`*0\r\n`), which Redis would wait on forever.
    private static let emptyLength = 4

    // Concrete argument types, not generic ones: called from other modules, a generic
    // method would run unspecialized. Each piece is assembled in a scratch buffer on the
    // stack and appended at once (an append per byte costs a uniqueness check each).

    /// Appends a binary-safe argument.
    public mutating func append(_ argument: [UInt8]) {
        argument.withUnsafeBytes { append(raw: $0) }
    }

    /// Appends a text argument (its UTF-8).
    public mutating func append(_ argument: String) {
        var argument = argument
        argument.withUTF8 { append(raw: UnsafeRawBufferPointer($0)) }
    }

    /// Appends one argument per value, each made of `prefix` and the value in decimal
    /// (`movie:` and [7, 12] give `movie:7`, `movie:12`): the keys of an `MGET`, say, written
    /// in one pass, without a key array.
    public mutating func append(_ prefix: [UInt8], _ values: [Int64]) {
        remaining -= values.count
        // The exact size first (digits counted), then the bytes written in place.
        var total = 0
        for value in values {
            let length = prefix.count + Self.decimalCount(value)
            total += 1 + Self.decimalCount(Int64(length)) + 2 + length + 2
        }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: total))
        bytes.withUnsafeMutableBytes { buffer in
            // Scoped: `buffer` is the array's storage, sized above; written only below `total`.
            guard let base = buffer.baseAddress else { return }
            var offset = start
            prefix.withUnsafeBytes { prefixBytes in
                for value in values {
                    let digits = Self.decimalCount(value)
                    offset = Self.writeHeader(length: prefix.count + digits, at: base + offset) + offset
                    if let source = prefixBytes.baseAddress {
                        (base + offset).copyMemory(from: source, byteCount: prefixBytes.count)
                    }
                    offset += prefixBytes.count
                    offset += Self.writeDecimal(value, at: base + offset)
                    base.storeBytes(of: Self.crlf, toByteOffset: offset, as: UInt16.self)
                    offset += 2
                }
            }
        }
    }

    /// Appends `argument`'s header, bytes and end.
    private mutating func append(raw argument: UnsafeRawBufferPointer) {
        remaining -= 1
        withUnsafeTemporaryAllocation(byteCount: Self.scratchSize, alignment: 1) { scratch in
            // Scoped: the scratch buffer lives until this closure returns; `bytes` copies it.
            guard let base = scratch.baseAddress else { return }
            let end = Self.writeHeader(length: argument.count, at: base)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<end]))
        }
        bytes.append(contentsOf: argument)
        bytes.append(UInt8(ascii: "\r"))
        bytes.append(UInt8(ascii: "\n"))
    }

    /// Room for a header (`$`, 20 digits, CRLF), with some to spare.
    private static let scratchSize = 64
    /// `\r\n` as stored in memory (little- or big-endian alike: bytes in order).
    private static let crlf = UInt16(littleEndian: 0x0A0D)

    /// Writes `$<length>\r\n` at `start`; returns how many bytes.
    private static func writeHeader(length: Int, at start: UnsafeMutableRawPointer) -> Int {
        start.storeBytes(of: UInt8(ascii: "$"), as: UInt8.self)
        let end = 1 + writeDecimal(Int64(length), at: start + 1)
        start.storeBytes(of: crlf, toByteOffset: end, as: UInt16.self)
        return end + 2
    }

    /// How many bytes `value` takes in decimal (a `-` counted).
    private static func decimalCount(_ value: Int64) -> Int {
        var count = value < 0 ? 2 : 1
        var rest = value.magnitude / 10
        while rest != 0 {
            count += 1
            rest /= 10
        }
        return count
    }

    /// Writes `value` in decimal (a leading `-` when negative) at `start`; returns how many
    /// bytes (at most 20).
    private static func writeDecimal(_ value: Int64, at start: UnsafeMutableRawPointer) -> Int {
        var magnitude = value.magnitude
        let count = decimalCount(value)
        if value < 0 { start.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self) }
        var index = count
        repeat {
            index -= 1
            start.storeBytes(of: UInt8(truncatingIfNeeded: magnitude % 10) &+ UInt8(ascii: "0"), toByteOffset: index, as: UInt8.self)
            magnitude /= 10
        } while magnitude != 0
        return count
    }
}
