/// libFuzzer target: ServiceKit's JSON parser, which reads every request body.
///
/// Invariants: no crash or hang on any input; whatever parses is written back by
/// JSONWriter and parses again to an equal value (NaN cannot occur: JSON has none).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Safe: libFuzzer guarantees `size` readable bytes at `data` for this call.
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser.parse(input, maxDepth: 32) else { return 0 }
    var writer = JSONWriter()
    writer.value(value)
    let written = writer.bytes
    guard let reparsed = try? JSONParser.parse(written, maxDepth: 32) else {
        preconditionFailure("JSONWriter produced text that JSONParser rejects")
    }
    precondition(reparsed == value, "round trip changed the value")
    return 0
}
