/// libFuzzer target: `HTTPRequestParser` over arbitrary bytes.
///
/// Invariants: no crash, no read outside the input (ASan), `consumed` never past the input,
/// and the same events whether the input arrives whole, split in two, or byte by byte.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Safe: libFuzzer guarantees `size` readable bytes at `data` for this call.
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let split = size > 0 ? Int(input[size - 1]) &* 31 &+ size : 0
    var runs: [[FuzzVerdict<HTTPRequestHead>]] = []
    for segments in fuzzSegmentations(count: size, split: split) {
        var parser = HTTPRequestParser(limits: fuzzLimits)
        let verdicts = fuzzDrive(&parser, input, segments: segments)
        for case .head(let head) in verdicts {
            _ = (head.path, head.query, head.keepAlive, head.expectsContinue, head.headers.connectionTokens)
        }
        runs.append(verdicts)
    }
    requireSameVerdicts(runs)
    return 0
}
