import Testing

@testable import HTTP

/// The parked connections' lists (``ParkedIdleNodes``), without sockets: every list stays in
/// idle-deadline order whatever order nodes park in, the usual two orders at once cost no walk,
/// and the sweep takes exactly the nodes whose deadline has passed.
@Suite("HTTP server: parked connections in deadline order (no sockets)", .timeLimit(.minutes(1)))
struct ParkedIdleNodesTests {
    final class Node: IdleNode {
        var olderIdle: Unmanaged<Node>?
        var newerIdle: Unmanaged<Node>?
        var idleMembership = IdleMembership.none
        let idleDeadline: UInt64?

        init(_ deadline: UInt64) { idleDeadline = deadline }
    }

    static func isSorted(_ list: [UInt64]) -> Bool { zip(list, list.dropFirst()).allSatisfy { $0 <= $1 } }

    @Test func theTwoUsualOrdersAtOnceAppendToOneListEach() {
        var parked = ParkedIdleNodes<Node>()
        // Parked at once as their waits begin (latest deadlines) and parked by the sweep
        // (deadlines of waits that began earlier, in that order), interleaved.
        let nodes = [1_000, 900, 1_001, 901, 1_002, 902, 1_003, 903].map(Node.init)
        for node in nodes { parked.insert(node) }
        let (first, second) = parked.deadlines
        #expect(first == [1_000, 1_001, 1_002, 1_003])
        #expect(second == [900, 901, 902, 903])
        #expect(parked.earliestDeadline == 900)
    }

    @Test func aDeadlineEarlierThanBothListsIsInsertedInOrder() {
        var parked = ParkedIdleNodes<Node>()
        let nodes = [1_000, 900, 1_001, 901, 500, 950, 100].map(Node.init)
        for node in nodes { parked.insert(node) }
        let (first, second) = parked.deadlines
        #expect(Self.isSorted(first) && Self.isSorted(second), "\(first) \(second)")
        #expect((first + second).sorted() == [100, 500, 900, 901, 950, 1_000, 1_001])
        #expect(parked.earliestDeadline == 100)
    }

    @Test func theSweepTakesExactlyTheExpiredOnesAndRemovalKeepsTheRest() {
        var parked = ParkedIdleNodes<Node>()
        var generator = SystemRandomNumberGenerator()
        let nodes = (0..<200).map { _ in Node(UInt64.random(in: 1...1_000, using: &generator)) }
        for node in nodes { parked.insert(node) }
        var (first, second) = parked.deadlines
        #expect(Self.isSorted(first) && Self.isSorted(second))
        #expect(first.count + second.count == nodes.count)
        // Nodes woken by their sockets leave from anywhere in their list.
        for node in nodes where (node.idleDeadline ?? 0) % 7 == 0 {
            parked.remove(node)
            #expect(node.idleMembership == .none && node.olderIdle == nil && node.newerIdle == nil)
        }
        let woken = nodes.filter { ($0.idleDeadline ?? 0) % 7 == 0 }
        var expired: [UInt64] = []
        while let node = parked.removeExpired(now: 500) { expired.append(node.idleDeadline ?? 0) }
        let left = nodes.filter { node in !woken.contains { $0 === node } }.compactMap(\.idleDeadline)
        #expect(expired.sorted() == left.filter { $0 <= 500 }.sorted())
        (first, second) = parked.deadlines
        #expect((first + second).sorted() == left.filter { $0 > 500 }.sorted())
        #expect(Self.isSorted(first) && Self.isSorted(second))
        // Removing a node that is not parked changes nothing.
        if let gone = woken.first { parked.remove(gone) }
        #expect(parked.deadlines.0.count + parked.deadlines.1.count == left.filter { $0 > 500 }.count)
    }
}
