/// libFuzzer target: `HTTPResponseParser` over arbitrary bytes, then a connection close.
///
/// The first byte picks the request method (GET, HEAD, CONNECT), so that every framing rule
/// is reached. Invariants as for the request target, including the verdict of
/// `connectionClosed()`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    // Safe: libFuzzer guarantees `size` readable bytes at `data` for this call.
    let all = UnsafeRawBufferPointer(start: data, count: size)
    let methods: [HTTPMethod] = [.GET, .HEAD, .CONNECT, .POST]
    let method = methods[Int(all[0]) % methods.count]
    let input = UnsafeRawBufferPointer(rebasing: all[1...])
    let split = Int(all[0]) &* 131 &+ size
    var runs: [[FuzzVerdict<HTTPResponseHead>]] = []
    for segments in fuzzSegmentations(count: input.count, split: split) {
        var parser = HTTPResponseParser(limits: fuzzLimits)
        parser.expectResponse(toRequestMethod: method)
        var verdicts = fuzzDrive(&parser, input, segments: segments)
        if case .invalid? = verdicts.last {} else {
            switch parser.connectionClosed() {
            case .end(let consumed, let trailers):
                precondition(consumed == 0)
                verdicts.append(.end(trailers))
            case .invalid(let error):
                verdicts.append(.invalid(error))
            default:
                preconditionFailure("connectionClosed returned neither end nor invalid")
            }
        }
        runs.append(verdicts)
    }
    requireSameVerdicts(runs)
    return 0
}
