/// libFuzzer target: ServiceKit's JSON parser, which reads every request body.
///
/// Invariants: no crash or hang on any input; whatever parses is written back by
/// JSONWriter and parses again to an equal value (NaN cannot occur: JSON has none); reading
/// without decoding (`forEachObject`) accepts exactly the arrays of objects that parse, and
/// its members' raw values parse to the parsed object's values.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Safe: libFuzzer guarantees `size` readable bytes at `data` for this call.
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    checkRawReading(input)
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

/// `forEachObject` against `parse` on the same input.
func checkRawReading(_ input: [UInt8]) {
    let parsed = try? JSONParser.parse(input, maxDepth: 32)
    var elements: [JSONObject] = []
    do {
        try JSONParser(maxDepth: 32).forEachObject(inArray: input) { members in
            var object = JSONObject()
            for member in members {
                let name = member.name(in: input)
                guard let value = try? JSONParser.parse(Array(input[member.value]), maxDepth: 32) else {
                    preconditionFailure("a raw value that does not parse alone")
                }
                object[name] = value
            }
            elements.append(object)
        }
    } catch {
        if case .array(let array)? = parsed, array.allSatisfy({ $0.objectValue != nil }) {
            preconditionFailure("forEachObject refused an array of objects that parses")
        }
        return
    }
    guard case .array(let array)? = parsed else { preconditionFailure("forEachObject accepted what does not parse") }
    precondition(array == elements.map { JSONValue.object($0) }, "forEachObject's members differ from the parsed objects")
}
