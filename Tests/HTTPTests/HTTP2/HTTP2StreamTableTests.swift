import Testing

@testable import HTTP

@Suite("HTTP/2 stream table", .timeLimit(.minutes(1)))
struct HTTP2StreamTableTests {
    /// A fixed pseudo-random sequence (Knuth's MMIX linear congruential generator, its high
    /// bits), so that a failure repeats.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 32 | (state & 0xFFFF_FFFF_0000_0000)
        }
    }

    /// Inserts, replacements, look-ups and removals in random order, checked after each step
    /// against a Dictionary: with few distinct identifiers, so that probe runs overlap, wrap
    /// around the table's end, and removals shift keys back across them.
    @Test func behavesAsADictionaryThroughInsertionsAndRemovals() {
        var random = Generator(state: 23)
        for range in [UInt32(1)...40, 1...300, 1_000_001...1_000_200] {
            var table = HTTP2StreamTable<Int>()
            var model: [UInt32: Int] = [:]
            for step in 0..<20_000 {
                let id = UInt32.random(in: range, using: &random)
                if Bool.random(using: &random) || model.count > 150 {
                    #expect(table.removeValue(forKey: id) == model.removeValue(forKey: id))
                } else {
                    table[id] = step
                    model[id] = step
                }
                #expect(table.count == model.count)
                let probe = UInt32.random(in: range, using: &random)
                #expect(table[probe] == model[probe], "step \(step): \(probe)")
            }
            #expect(Dictionary(uniqueKeysWithValues: table.map { ($0.key, $0.value) }) == model)
            #expect(table.sortedKeys == model.keys.sorted())
        }
    }

    @Test func anEmptyTableFindsNothingAndEmptiesAgain() {
        var table = HTTP2StreamTable<String>()
        #expect(table.isEmpty && table[1] == nil && table.removeValue(forKey: 1) == nil)
        for id in stride(from: UInt32(1), through: 255, by: 2) { table[id] = "s\(id)" }
        #expect(table.count == 128 && table[255] == "s255" && table[2] == nil)
        table.removeAll()
        #expect(table.isEmpty && table[255] == nil && Array(table).isEmpty)
    }
}
