import Testing

@testable import HTTP

/// Bytes from an RFC-style hex dump ("8286 8441 ...").
func hexBytes(_ text: String) -> [UInt8] {
    let digits = text.filter { $0.isHexDigit }
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

func fields(_ pairs: [(String, String)]) -> [HPACKHeaderField] {
    pairs.map { HPACKHeaderField($0.0, $0.1) }
}

/// Encodes `list` as one block.
func encodeBlock(_ encoder: inout HPACKEncoder, _ list: [(String, String)]) -> [UInt8] {
    var out: [UInt8] = []
    encoder.beginBlock(into: &out)
    for (name, value) in list { encoder.append(name: name, value: value, into: &out) }
    return out
}

@Suite("HPACK (RFC 7541)", .timeLimit(.minutes(1)))
struct HPACKTests {
    // MARK: C.1 integers

    @Test func integersOfAppendixC1() throws {
        var out: [UInt8] = []
        HPACKPrimitives.appendInteger(10, prefixBits: 5, flags: 0, into: &out)
        #expect(out == [0x0a])
        out = []
        HPACKPrimitives.appendInteger(1337, prefixBits: 5, flags: 0, into: &out)
        #expect(out == [0x1f, 0x9a, 0x0a])
        out = []
        HPACKPrimitives.appendInteger(42, prefixBits: 8, flags: 0, into: &out)
        #expect(out == [0x2a])
        for (bytes, prefix, value) in [([UInt8(0x0a)], 5, 10), ([0x1f, 0x9a, 0x0a], 5, 1337), ([0x2a], 8, 42)] {
            var index = 0
            let decoded = try bytes.withUnsafeBytes { try HPACKPrimitives.readInteger($0, at: &index, prefixBits: prefix) }
            #expect(decoded == value && index == bytes.count)
        }
    }

    @Test func integerOverflowAndTruncationAreRefused() {
        // A continuation run that never ends, and one that overflows.
        for bytes: [UInt8] in [[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], [0x1f, 0x80], [0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]] {
            var index = 0
            #expect(throws: HPACKError.self) {
                try bytes.withUnsafeBytes { try HPACKPrimitives.readInteger($0, at: &index, prefixBits: 5) }
            }
        }
    }

    // MARK: C.2 single representations

    @Test func representationsOfAppendixC2() throws {
        var decoder = HPACKDecoder()
        #expect(try decoder.decode(hexBytes("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"))
            == fields([("custom-key", "custom-header")]))
        #expect(decoder.dynamicTableSize == 55)

        decoder = HPACKDecoder()
        #expect(try decoder.decode(hexBytes("040c 2f73 616d 706c 652f 7061 7468")) == fields([(":path", "/sample/path")]))
        #expect(decoder.dynamicTableSize == 0)

        decoder = HPACKDecoder()
        #expect(try decoder.decode(hexBytes("1008 7061 7373 776f 7264 0673 6563 7265 74")) == fields([("password", "secret")]))
        #expect(decoder.dynamicTableSize == 0)

        decoder = HPACKDecoder()
        #expect(try decoder.decode(hexBytes("82")) == fields([(":method", "GET")]))
        #expect(decoder.dynamicTableSize == 0)
    }

    // MARK: C.3 / C.4 requests

    static let requests: [[(String, String)]] = [
        [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
        [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"),
         ("cache-control", "no-cache")],
        [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"),
         ("custom-key", "custom-value")],
    ]
    static let requestTableSizes = [57, 110, 164]

    static let plainRequests = [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]
    static let huffmanRequests = [
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]

    @Test(arguments: [false, true])
    func requestsOfAppendixC3AndC4Decode(huffman: Bool) throws {
        var decoder = HPACKDecoder()
        for (index, dump) in (huffman ? Self.huffmanRequests : Self.plainRequests).enumerated() {
            #expect(try decoder.decode(hexBytes(dump)) == fields(Self.requests[index]))
            #expect(decoder.dynamicTableSize == Self.requestTableSizes[index])
        }
        #expect(decoder.dynamicTableCount == 3)
    }

    @Test(arguments: [false, true])
    func requestsOfAppendixC3AndC4Encode(huffman: Bool) {
        var encoder = HPACKEncoder()
        encoder.huffmanCoding = huffman
        for (index, dump) in (huffman ? Self.huffmanRequests : Self.plainRequests).enumerated() {
            #expect(encodeBlock(&encoder, Self.requests[index]) == hexBytes(dump))
        }
    }

    // MARK: C.5 / C.6 responses, 256-byte table with evictions

    static let responses: [[(String, String)]] = [
        [(":status", "302"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
         ("location", "https://www.example.com")],
        [(":status", "307"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
         ("location", "https://www.example.com")],
        [(":status", "200"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
         ("location", "https://www.example.com"), ("content-encoding", "gzip"),
         ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")],
    ]
    static let responseTableSizes = [222, 222, 215]

    static let plainResponses = [
        """
        4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
        2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d
        """,
        "4803 3330 37c1 c0bf",
        """
        88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
        54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
        5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31
        """,
    ]
    static let huffmanResponses = [
        """
        4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
        2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3
        """,
        "4883 640e ffc1 c0bf",
        """
        88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
        77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
        9587 3160 65c0 03ed 4ee5 b106 3d50 07
        """,
    ]

    @Test(arguments: [false, true])
    func responsesOfAppendixC5AndC6Decode(huffman: Bool) throws {
        var decoder = HPACKDecoder(maxTableSize: 256)
        // The encoder of Appendix C.5 works with a 256-byte table from the start; ours
        // announces it (the decoder's table starts at the announced size).
        for (index, dump) in (huffman ? Self.huffmanResponses : Self.plainResponses).enumerated() {
            #expect(try decoder.decode(hexBytes(dump)) == fields(Self.responses[index]))
            #expect(decoder.dynamicTableSize == Self.responseTableSizes[index])
        }
    }

    /// The first two responses encode byte for byte as in the RFC (after our size update);
    /// the third differs only in `set-cookie`, which this encoder never indexes, and decodes
    /// to the same list.
    @Test(arguments: [false, true])
    func responsesOfAppendixC5AndC6Encode(huffman: Bool) throws {
        var encoder = HPACKEncoder()
        encoder.huffmanCoding = huffman
        encoder.peerMaxTableSizeChanged(to: 256)
        var decoder = HPACKDecoder(maxTableSize: 4096)
        let dumps = huffman ? Self.huffmanResponses : Self.plainResponses
        for index in 0..<3 {
            let block = encodeBlock(&encoder, Self.responses[index])
            let expected = hexBytes(dumps[index])
            if index == 0 {
                #expect(Array(block.prefix(3)) == [0x3f, 0xe1, 0x01], "size update to 256")
                #expect(Array(block.dropFirst(3)) == expected)
            } else if index == 1 {
                #expect(block == expected)
            } else {
                #expect(block.count < expected.count + 4)
            }
            #expect(try decoder.decode(block) == fields(Self.responses[index]))
        }
    }

    // MARK: Huffman

    @Test func huffmanRoundTripsEveryByte() throws {
        let everyByte = (0...255).map { UInt8($0) } + Array("www.example.com".utf8)
        var encoded: [UInt8] = []
        everyByte.withUnsafeBytes { HPACKHuffman.encode($0, into: &encoded) }
        #expect(encoded.count == everyByte.withUnsafeBytes { HPACKHuffman.encodedLength($0) })
        var decoded: [UInt8] = []
        try encoded.withUnsafeBytes { try HPACKHuffman.decode($0, into: &decoded) }
        #expect(decoded == everyByte)
    }

    @Test func huffmanRefusesBadPadding() {
        // "a" is 00011 (5 bits): padding must be three ones.
        var out: [UInt8] = []
        #expect(throws: Never.self) { try [UInt8(0b0001_1111)].withUnsafeBytes { try HPACKHuffman.decode($0, into: &out) } }
        #expect(throws: HPACKError(.invalidHuffman)) {
            try [UInt8(0b0001_1011)].withUnsafeBytes { try HPACKHuffman.decode($0, into: &out) }
        }
        // Eight bits of padding (a whole 0xff byte after a complete symbol).
        #expect(throws: HPACKError(.invalidHuffman)) {
            try [UInt8(0b0001_1111), 0xff].withUnsafeBytes { try HPACKHuffman.decode($0, into: &out) }
        }
        // EOS itself (30 ones) in the string.
        #expect(throws: HPACKError(.invalidHuffman)) {
            try [UInt8(0xff), 0xff, 0xff, 0xff].withUnsafeBytes { try HPACKHuffman.decode($0, into: &out) }
        }
    }

    // MARK: Dynamic table

    @Test func tableSizeUpdatesEvictAndAreBounded() throws {
        var decoder = HPACKDecoder(maxTableSize: 4096)
        _ = try decoder.decode(hexBytes(Self.plainRequests[0]))
        #expect(decoder.dynamicTableCount == 1)
        // Size update to 0 empties the table, then back to 4096 at the start of a block.
        _ = try decoder.decode([0x20, 0x3f, 0xe1, 0x1f, 0x82])
        #expect(decoder.dynamicTableCount == 0)
        // Above the announced 4096: refused.
        #expect(throws: HPACKError(.tableSizeUpdateTooLarge)) { try decoder.decode([0x3f, 0xe2, 0x1f]) }
        // After a field: refused.
        var other = HPACKDecoder()
        #expect(throws: HPACKError(.tableSizeUpdateMisplaced)) { try other.decode([0x82, 0x20]) }
        // An index past the dynamic table.
        #expect(throws: HPACKError(.invalidIndex)) { try other.decode([0xbe]) }
        #expect(throws: HPACKError(.invalidIndex)) { try other.decode([0x80]) }
        #expect(throws: HPACKError(.truncated)) { try other.decode([0x40, 0x05, 0x61]) }
    }

    @Test func entryLargerThanTheTableEmptiesIt() throws {
        var decoder = HPACKDecoder(maxTableSize: 64)
        _ = try decoder.decode(hexBytes(Self.plainRequests[0]))  // 57 bytes
        #expect(decoder.dynamicTableCount == 1)
        var encoder = HPACKEncoder(preferredMaxTableSize: 4096)
        let big = encodeBlock(&encoder, [("x-big", String(repeating: "v", count: 100))])
        _ = try decoder.decode(big)
        #expect(decoder.dynamicTableCount == 0 && decoder.dynamicTableSize == 0)
    }

    /// An HPACK bomb: one large entry, then a block of one-byte references to it. The list
    /// limit refuses it, and the decoder stays usable (its table in step).
    @Test func hpackBombIsRefusedByTheHeaderListLimit() throws {
        var decoder = HPACKDecoder(maxTableSize: 4096, maxHeaderListSize: 16_384)
        var encoder = HPACKEncoder()
        let first = encodeBlock(&encoder, [("x-bomb", String(repeating: "a", count: 4000))])
        _ = try decoder.decode(first)
        let references = [UInt8](repeating: 0xbe, count: 1000)  // 1000 × ~4 KB decoded
        #expect(throws: HPACKError(.headerListTooLarge)) { try decoder.decode(references) }
        #expect(try decoder.decode([0xbe]).first?.value.count == 4000)
    }

    @Test func sensitiveFieldsAreNeverIndexed() throws {
        var encoder = HPACKEncoder()
        let block = encodeBlock(&encoder, [("authorization", "Bearer x"), ("set-cookie", "a=b")])
        #expect(block[0] & 0xf0 == 0x10)
        var decoder = HPACKDecoder()
        #expect(try decoder.decode(block) == fields([("authorization", "Bearer x"), ("set-cookie", "a=b")]))
        #expect(decoder.dynamicTableCount == 0)
    }

    /// The static look-up answers as a walk over the whole table would: for each entry's
    /// name and value the lowest full match, for its name with another value the lowest
    /// entry of that name, and nothing for names the table lacks (lengths with no entry,
    /// and past the longest).
    @Test func staticLookUpFindsTheLowestIndexOfEachNameAndPair() {
        func find(_ name: [UInt8], _ value: [UInt8]) -> (index: Int, fullMatch: Bool)? {
            name.withUnsafeBytes { name in value.withUnsafeBytes { HPACKStaticTable.find(name: name, value: $0) } }
        }
        let entries = HPACKStaticTable.entries
        for (offset, entry) in entries.enumerated() {
            let lowestPair = entries.firstIndex(of: entry)! + 1
            let lowestName = entries.firstIndex { $0.name == entry.name }! + 1
            #expect(find(entry.name, entry.value).map { [$0.index, $0.fullMatch ? 1 : 0] } == [lowestPair, 1], "\(offset)")
            #expect(find(entry.name, Array("other".utf8)).map { [$0.index, $0.fullMatch ? 1 : 0] } == [lowestName, 0])
        }
        for name in ["x-request-id", "", "a", "content-typf", String(repeating: "x", count: 40)] {
            #expect(find(Array(name.utf8), []) == nil, "\(name)")
        }
    }

    @Test func namesAreLowerCasedAndRepeatsBecomeOneIndex() throws {
        var encoder = HPACKEncoder()
        let first = encodeBlock(&encoder, [("X-Request-ID", "abc")])
        let second = encodeBlock(&encoder, [("X-Request-ID", "abc")])
        #expect(second == [0xbe])
        var decoder = HPACKDecoder()
        #expect(try decoder.decode(first) == fields([("x-request-id", "abc")]))
        #expect(try decoder.decode(second) == fields([("x-request-id", "abc")]))
    }
}
