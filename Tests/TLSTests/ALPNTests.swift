import Testing

@testable import TLS

@Suite("ALPN wire format (no sockets)", .timeLimit(.minutes(5)))
struct ALPNTests {
    private func find(_ wanted: String, _ offer: [UInt8]) -> Range<Int>? {
        offer.withUnsafeBytes { ALPN.find(wanted, in: $0) }
    }

    @Test func wireFormatPrefixesEachNameWithItsLength() {
        #expect(ALPN.wireFormat(["h2", "http/1.1"]) == [2] + Array("h2".utf8) + [8] + Array("http/1.1".utf8))
    }

    @Test func findsHTTP11AnywhereInTheOffer() {
        let offer = ALPN.wireFormat(["h2", "http/1.1"])
        #expect(find("http/1.1", offer) == 4..<12)
        #expect(find("http/1.1", ALPN.wireFormat(["http/1.1"])) == 1..<9)
    }

    @Test func anOfferWithoutHTTP11SelectsNothing() {
        #expect(find("http/1.1", ALPN.wireFormat(["h2", "http/1.0", "http/1.11"])) == nil)
        #expect(find("http/1.1", []) == nil)
    }

    @Test func aMalformedOfferSelectsNothingEvenWhenItContainsTheName() {
        // A length byte that runs past the end.
        #expect(find("http/1.1", ALPN.wireFormat(["http/1.1"]) + [9, 0x68]) == nil)
        // An empty name is not allowed by RFC 7301.
        #expect(find("http/1.1", [0] + ALPN.wireFormat(["http/1.1"])) == nil)
    }
}
