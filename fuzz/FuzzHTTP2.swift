/// libFuzzer target: the HTTP/2 frame decoder, HPACK decoder and server state machine.
///
/// The input goes three ways: as one HPACK field block (whatever decodes must re-encode and
/// decode to the same fields); as the frames a client sends after its preface, delivered
/// whole and byte by byte (the machine must consume the same bytes and write the same output
/// either way); and the machine must never read past its input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Safe: libFuzzer guarantees `size` readable bytes at `data` for this call.
    let input = UnsafeRawBufferPointer(start: data, count: size)

    var decoder = HPACKDecoder(maxTableSize: 256, maxHeaderListSize: 2048)
    if let fields = try? decoder.decode(input) {
        var encoder = HPACKEncoder()
        var block: [UInt8] = []
        encoder.beginBlock(into: &block)
        for field in fields {
            field.name.withUnsafeBytes { name in
                field.value.withUnsafeBytes { value in encoder.append(name: name, value: value, into: &block) }
            }
        }
        var again = HPACKDecoder(maxTableSize: 4096, maxHeaderListSize: 1 << 20)
        let lowered = fields.map { field in
            HPACKHeaderField(name: field.name.map { $0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0 }, value: field.value)
        }
        precondition((try? again.decode(block)) == lowered, "HPACK re-encoding changed the fields")
    }

    var configuration = HTTP2ServerConfiguration()
    configuration.maxConcurrentStreams = 4
    configuration.maxHeaderListSize = 1024
    configuration.maxHeaderBlockSize = 2048
    configuration.maxContinuationFrames = 4
    configuration.maxResetsPerWindow = 8
    configuration.maxControlFramesPerWindow = 8
    var stream = HTTP2Wire.clientPreface
    stream.append(contentsOf: input)
    let whole = fuzzRun(stream, configuration: configuration, pieceSize: stream.count)
    if stream.count <= 1024 {
        let split = fuzzRun(stream, configuration: configuration, pieceSize: 1)
        precondition(whole == split, "split input gave a different result than whole input")
    }
    return 0
}

/// Feeds `bytes` in pieces of `pieceSize`, keeping unread bytes as the I/O shell does, and
/// then answers each request so that the send path runs too. Returns the output and the
/// actions.
func fuzzRun(
    _ bytes: [UInt8], configuration: HTTP2ServerConfiguration, pieceSize: Int
) -> ([UInt8], [HTTP2ServerAction]) {
    var machine = HTTP2ServerConnectionStateMachine(configuration: configuration)
    machine.start(now: 0)
    var output = machine.takeOutput()
    var actions: [HTTP2ServerAction] = []
    var pending: [UInt8] = []
    var offset = 0
    // One instant for the whole run: the flood windows and deadlines must not depend on how
    // the input was split.
    let now: UInt64 = 1_000_000
    while offset < bytes.count {
        let end = min(offset + pieceSize, bytes.count)
        pending.append(contentsOf: bytes[offset..<end])
        offset = end
        let (consumed, newActions) = pending.withUnsafeBytes { machine.received($0, now: now) }
        precondition(consumed >= 0 && consumed <= pending.count, "consumed past the input")
        pending.removeFirst(consumed)
        actions += newActions
        output += machine.takeOutput()
    }
    // Answered after all the input, so that both runs see the same order of events.
    for action in actions {
        guard case .request(let id, _, _) = action else { continue }
        var answer = machine.sendResponseHead(streamID: id, status: 200, endStream: false, now: now) {
            $0.add(name: "content-type", value: "text/plain")
        }
        actions += answer.actions
        answer = machine.sendData(streamID: id, [UInt8](repeating: 0x61, count: 70_000)[...], endStream: true, now: now)
        actions += answer.actions
    }
    actions += machine.timerFired(now: now &+ 60_000_000_000)
    output += machine.takeOutput()
    return (output, actions)
}
