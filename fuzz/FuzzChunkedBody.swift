/// libFuzzer target: chunked bodies, through a request whose head announces one.
///
/// The fixed head puts every fuzzer byte into the chunked decoder (sizes, extensions, data
/// terminators, trailers, and the next pipelined request). Invariants as for the request
/// target.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let head: [UInt8] = Array("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
    var message = head
    // Safe: libFuzzer guarantees `size` readable bytes at `data` for this call.
    message.append(contentsOf: UnsafeBufferPointer(start: data, count: size))
    message.withUnsafeBytes { input in
        let split = size > 0 ? Int(input[input.count - 1]) &* 17 &+ size : 0
        var runs: [[FuzzVerdict<HTTPRequestHead>]] = []
        for segments in fuzzSegmentations(count: input.count, split: split) {
            var parser = HTTPRequestParser(limits: fuzzLimits)
            runs.append(fuzzDrive(&parser, input, segments: segments))
        }
        requireSameVerdicts(runs)
    }
    return 0
}
