import Testing

@testable import ServiceKit

@Suite(.timeLimit(.minutes(5))) struct ServiceKitJSONTests {
    @Test func parsesScalarsAndKeepsIntegersExact() throws {
        #expect(try JSONParser.parse("9007199254740993") == .int(9_007_199_254_740_993))
        #expect(try JSONParser.parse("-9223372036854775808") == .int(.min))
        #expect(try JSONParser.parse("9223372036854775808") == .double(9_223_372_036_854_775_808.0))
        #expect(try JSONParser.parse("8.8") == .double(8.8))
        #expect(try JSONParser.parse("1e2") == .double(100))
        #expect(try JSONParser.parse("-0") == .int(0))
        #expect(try JSONParser.parse(" true ") == .bool(true))
        #expect(try JSONParser.parse("null") == .null)
        #expect(try JSONParser.parse(#""a\"b\\c\/\n\u00e9\ud83d\ude00""#) == .string("a\"b\\c/\né😀"))
        #expect(try JSONParser.parse(#""héllo""#) == .string("héllo"))
    }

    @Test func parsesStructures() throws {
        let value = try JSONParser.parse(#"{"a": [1, 2.5, "x", null, {"b": false}], "c": {}}"#)
        #expect(value["a"] == .array([.int(1), .double(2.5), .string("x"), .null, .object(JSONObject(["b": .bool(false)]))]))
        #expect(value["c"] == .object(JSONObject()))
    }

    /// Each element's members, decoded from their raw ranges: what `forEachObject` saw.
    private func rawElements(_ text: String) throws(JSONParser.Error) -> [[(String, JSONValue)]] {
        let bytes = Array(text.utf8)
        var elements: [[(String, JSONValue)]] = []
        try JSONParser().forEachObject(inArray: bytes) { members in
            elements.append(
                members.map { member in
                    let name = member.name(in: bytes)
                    return (name, (try? JSONParser.parse(Array(bytes[member.value]))) ?? .string("<unparsable>"))
                })
        }
        return elements
    }

    @Test func arraysOfObjectsAreReadWithoutDecodingTheirValues() throws {
        let elements = try rawElements(
            #" [ {"id": 7, "title": "A \"quoted\" é", "rating": 8.0, "d\u0069rector": null, "x": [1, {"y": true}]},{} ] "#)
        #expect(elements.count == 2)
        #expect(elements[0].map(\.0) == ["id", "title", "rating", "director", "x"])
        #expect(elements[0][0].1 == .int(7))
        #expect(elements[0][1].1 == .string("A \"quoted\" é"))
        #expect(elements[0][2].1 == .double(8))
        #expect(elements[0][3].1 == .null)
        #expect(elements[0][4].1 == .array([.int(1), .object(JSONObject(["y": .bool(true)]))]))
        #expect(elements[1].isEmpty)
        #expect(try rawElements("[]").isEmpty)
        // A repeated name is handed over each time.
        #expect(try rawElements(#"[{"a": 1, "a": 2}]"#)[0].map(\.1) == [.int(1), .int(2)])
    }

    @Test func readingWithoutDecodingRefusesWhatParsingRefuses() {
        let refused = [
            "", "{}", "[1]", "[{}, 2]", #"[{"a": 1,}]"#, "[{}", "[{}] x", #"[{"a": 01}]"#, #"[{"a": "\u12"}]"#,
            #"[{"a": "\ud800"}]"#, "[{\"a\": \"\u{01}\"}]", #"[{"a": tru}]"#, #"[{"a" 1}]"#, #"[{a: 1}]"#,
            #"[{"a": [1,]}]"#, #"[{"a": 1.}]"#, #"[{"a": -}]"#,
        ]
        for text in refused {
            #expect(throws: JSONParser.Error.self, "\(text)") { try rawElements(text) }
        }
        // Invalid UTF-8 in a value, and nesting past the limit.
        let invalid: [UInt8] = Array(#"[{"a": ""#.utf8) + [0xC3, 0x28] + Array(#""}]"#.utf8)
        #expect(throws: JSONParser.Error.self) { try JSONParser().forEachObject(inArray: invalid) { _ in } }
        #expect(throws: JSONParser.Error.self) {
            try JSONParser(maxDepth: 3).forEachObject(inArray: Array(#"[{"a": [[1]]}]"#.utf8)) { _ in }
        }
        #expect((try? JSONParser(maxDepth: 3).forEachObject(inArray: Array(#"[{"a": [1]}]"#.utf8)) { _ in }) != nil)
    }

    /// Long strings are scanned eight bytes at a time: a quote, an escape, a control byte,
    /// non-ASCII or invalid UTF-8 at every position of those words is seen as parsing sees it.
    @Test func longStringsAreReadAsParsingReadsThem() throws {
        let specials: [[UInt8]] = [
            Array(#"\""#.utf8), Array(#"\\"#.utf8), Array(#"\u0041"#.utf8), Array(#"\"#.utf8), [0x22], [0x01], [0x1F],
            Array("é".utf8),
            [0xC3, 0x28], [0xFF], Array("€x".utf8), [0x7F],
        ]
        for special in specials {
            for position in 0..<20 {
                let text = Array(repeating: UInt8(ascii: "a"), count: position) + special
                    + Array(repeating: UInt8(ascii: "b"), count: 19 - position)
                let answer = Array(#"[{"k": ""#.utf8) + text + Array(#"", "long name of a member": 1}]"#.utf8)
                let parsed = try? JSONParser.parse(answer)
                var raw: [JSONValue] = []
                let read: Void? = try? JSONParser().forEachObject(inArray: answer) { members in
                    raw.append(members.first.map { (try? JSONParser.parse(Array(answer[$0.value]))) ?? .null } ?? .null)
                }
                #expect((read != nil) == (parsed != nil), "\(special) at \(position)")
                if case .array(let objects)? = parsed { #expect(raw == objects.map { $0["k"] ?? .null }) }
            }
        }
    }

    @Test func integersAreReadFromRawValuesAsIntValueReadsThem() {
        let text = Array(#"7 -12 0 7.0 7.5 1e2 "7" 99999999999999999999 null"#.utf8)
        var values: [Int64?] = []
        var start = 0
        for index in 0...text.count where index == text.count || text[index] == 0x20 {
            values.append(JSONParser.integer(in: text, start..<index))
            start = index + 1
        }
        #expect(values == [7, -12, 0, 7, nil, 100, nil, nil, nil])
    }

    @Test func rawKeysAndValuesAreCopiedAsWritten() {
        var json = JSONWriter()
        json.object { object in
            object.rawKey(Array(#"t\u0069tle"#.utf8)[...])
            object.raw(Array(#""A""#.utf8))
            object.field("n", Int64(-9_223_372_036_854_775_807) - 1)
            object.field("m", Int64(10_000_000_000_000_000_00))
            object.field("z", 0)
            object.key(JSONKey(#"q"u"#))
            object.value(true)
            object.key(JSONKey("k"))
            object.null()
        }
        #expect(
            String(decoding: json.bytes, as: UTF8.self)
                == #"{"t\u0069tle":"A","n":-9223372036854775808,"m":1000000000000000000,"z":0,"q\"u":true,"k":null}"#)
    }

    @Test func duplicateKeysLastWinsInFirstPosition() throws {
        let value = try JSONParser.parse(#"{"a": 1, "b": 2, "a": 3}"#)
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == .int(3))
    }

    @Test func manyKeysStayIndexed() throws {
        var text = "{"
        for i in 0..<5000 { text += (i == 0 ? "" : ",") + "\"k\(i)\":\(i)" }
        text += ",\"k7\":\"last\"}"
        let value = try JSONParser.parse(text)
        #expect(value.objectValue?.count == 5000)
        #expect(value["k7"] == .string("last"))
        #expect(value["k4999"] == .int(4999))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "+1", "NaN", "Infinity",
        "tru", "nul", "'a'", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"a\u{01}b\"", "\"tab\there\"", "{\"a\" 1}", "{1:2}", "[1 2]", "1 2", "{} x", "[1]]", "1e400",
        "// c\n1", "[\"a\",]",
    ])
    func rejectsInvalid(_ text: String) {
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse([0x22, 0x5C, 0x6E, 0xFF, 0x22]) }
    }

    @Test func depthLimit() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSONParser.parse(ok) }
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(deep) }
        let hostile = String(repeating: "[", count: 1_000_000)
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(hostile) }
    }

    @Test func floatsAreWrittenLikePython() {
        func text(_ d: Double) -> String { JSONValue.double(d).jsonString }
        #expect(text(8.8) == "8.8")
        #expect(text(9.0) == "9.0")
        #expect(text(0.1 + 0.2) == "0.30000000000000004")
        #expect(text(1e16) == "1e+16")
        #expect(text(1e15) == "1000000000000000.0")
        #expect(text(0.00001) == "1e-05")
        #expect(text(.nan) == "null")
        #expect(text(-.infinity) == "null")
    }

    @Test func writerRoundTrips() throws {
        let original = try JSONParser.parse(
            #"{"s":"q\"b\\n\n\t\u0001é😀","i":-42,"big":9223372036854775807,"d":8.8,"n":null,"a":[true,false,[]],"o":{}}"#)
        let written = original.jsonBytes
        #expect(try JSONParser.parse(written) == original)
        #expect(String(decoding: written, as: UTF8.self).contains(#""q\"b\\n\n\t\u0001é😀""#))
    }

    @Test func writerPlacesCommas() {
        var json = JSONWriter()
        json.object {
            $0.field("id", 7)
            $0.field("title", "Inception")
            $0.field("director", nil as String?)
            $0.key("tags")
            $0.array { list in
                list.value("a")
                list.value(1)
                list.object { $0.field("x", true) }
            }
            $0.field("rating", 8.8)
        }
        #expect(String(decoding: json.bytes, as: UTF8.self)
            == #"{"id":7,"title":"Inception","director":null,"tags":["a",1,{"x":true}],"rating":8.8}"#)
    }

    @Test func timestampsAreRFC3339UTC() {
        #expect(Timestamp(secondsSinceEpoch: 0).rfc3339 == "1970-01-01T00:00:00Z")
        #expect(Timestamp(secondsSinceEpoch: 1_795_623_767).rfc3339 == "2026-11-25T16:22:47Z")
        #expect(Timestamp(microsecondsSinceEpoch: 1_795_623_767_500_000).rfc3339 == "2026-11-25T16:22:47.5Z")
        #expect(Timestamp(microsecondsSinceEpoch: 951_782_400_000_123).rfc3339 == "2000-02-29T00:00:00.000123Z")
        #expect(Timestamp(microsecondsSinceEpoch: -1).rfc3339 == "1969-12-31T23:59:59.999999Z")
        var log: [UInt8] = []
        Timestamp(microsecondsSinceEpoch: 1_795_623_767_000_000).append(to: &log, fractionDigits: 3)
        #expect(String(decoding: log, as: UTF8.self) == "2026-11-25T16:22:47.000Z")
    }
}

/// Deterministic mutation fuzzing: the parser must never crash, hang or accept what it
/// then cannot write back identically.
@Suite(.timeLimit(.minutes(5))) struct ServiceKitJSONFuzzTests {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func mutatedDocumentsNeverCrashAndRoundTrip() {
        let corpus = [
            #"{"name":"Ada","email":"ada@example.com","password":"pass123"}"#,
            #"{"movie_ids":[1,2,3,9007199254740993],"x":[{"a":null},true,false,-0.5e-3]}"#,
            #"["\u00e9\ud83d\ude00\n\"",1E+2,0,-12,{"":{}}]"#,
        ].map { Array($0.utf8) }
        let alphabet = Array(#"{}[]:,"\\/ubfnrt0123456789.eE+-aflsnu \t\n"#.utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xA9, 0xED, 0xA0, 0xFF]
        var random = SplitMix(state: 42)
        var accepted = 0
        for iteration in 0..<20_000 {
            var bytes = corpus[iteration % corpus.count]
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let position = Int.random(in: 0...bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0 where position < bytes.count: bytes[position] = alphabet.randomElement(using: &random)!
                case 1: bytes.insert(alphabet.randomElement(using: &random)!, at: position)
                default: if position < bytes.count { bytes.remove(at: position) }
                }
            }
            guard let value = try? JSONParser.parse(bytes) else { continue }
            accepted += 1
            let written = value.jsonBytes
            #expect((try? JSONParser.parse(written)) == value)
            #expect((try? JSONParser.parse(written))?.jsonBytes == written)
        }
        #expect(accepted > 100)
    }

    @Test func randomStringsRoundTrip() {
        var random = SplitMix(state: 7)
        for _ in 0..<2000 {
            let scalars = (0..<Int.random(in: 0...12, using: &random)).compactMap { _ -> Unicode.Scalar? in
                let pick = Int.random(in: 0..<4, using: &random)
                let value: UInt32 = switch pick {
                case 0: UInt32.random(in: 0..<0x80, using: &random)
                case 1: UInt32.random(in: 0x80..<0x800, using: &random)
                case 2: UInt32.random(in: 0xE000..<0x10000, using: &random)
                default: UInt32.random(in: 0x10000..<0x110000, using: &random)
                }
                return Unicode.Scalar(value)
            }
            var string = ""
            string.unicodeScalars.append(contentsOf: scalars)
            let written = JSONValue.string(string).jsonBytes
            #expect((try? JSONParser.parse(written)) == .string(string))
        }
    }
}
