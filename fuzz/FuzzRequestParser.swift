/// libFuzzer target: `HTTPRequestParser` over arbitrary bytes.
///
/// Invariants: no crash, no read outside the input (ASan), `consumed` never past the input,
/// the same events whether the input arrives whole, split in two, or byte by byte, and every
/// head written back out (as the gateway forwards it) parses to the same head.
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
            requireRoundTrip(head)
        }
        runs.append(verdicts)
    }
    requireSameVerdicts(runs)
    return 0
}

/// Writes `head` and parses it again (with the default limits: the canonical form may be a
/// byte per line longer than what was read): the same head must come back.
func requireRoundTrip(_ head: HTTPRequestHead) {
    var written: [UInt8] = []
    head.write(into: &written)
    var parser = HTTPRequestParser()
    let event = written.withUnsafeBytes { parser.next($0) }
    guard case .head(let again, let consumed) = event, consumed == written.count else {
        preconditionFailure("a written head did not parse: \(event)")
    }
    precondition(again == head, "a written head parsed differently")
}
