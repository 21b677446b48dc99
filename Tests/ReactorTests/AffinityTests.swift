import CLinux
import MarqueeTesting
import Synchronization
import Testing

@testable import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// Loops pinned one per CPU, and listeners that take each connection on the loop of the
/// CPU its first packet arrives on. On loopback that CPU is the connecting thread's, so
/// the tests connect from threads pinned to each CPU in turn.
@Suite("Loop affinity and accepting by CPU", .timeLimit(.minutes(10)))
struct AffinityTests {
    @Test func pinningNeedsOneLoopPerAllowedCPU() {
        #expect(LoopAffinity.cpus(forLoops: 2, allowed: [0, 1], affinity: .automatic) == [0, 1])
        #expect(LoopAffinity.cpus(forLoops: 3, allowed: [2, 5, 7], affinity: .automatic) == [2, 5, 7])
        #expect(LoopAffinity.cpus(forLoops: 2, allowed: [0, 1, 2, 3], affinity: .automatic) == nil)
        #expect(LoopAffinity.cpus(forLoops: 4, allowed: [0, 1], affinity: .automatic) == nil)
        #expect(LoopAffinity.cpus(forLoops: 1, allowed: [0], affinity: .automatic) == nil)
        #expect(LoopAffinity.cpus(forLoops: 2, allowed: [0, 1], affinity: .none) == nil)
        #expect(LoopAffinity(setting: "auto") == .automatic)
        #expect(LoopAffinity(setting: "OFF") == LoopAffinity.none)
        #expect(LoopAffinity(setting: "sometimes") == nil)
    }

    @Test func eachLoopRunsOnlyOnItsCPU() async throws {
        let allowed = LoopAffinity.allowedCPUs()
        #expect(!allowed.isEmpty)
        let group = try EventLoopGroup(loopCount: allowed.count)
        defer { group.shutdown() }
        let expected = allowed.count > 1 ? allowed : nil
        #expect(group.pinnedCPUs == expected)
        for (index, loop) in group.loops.enumerated() {
            let (cpusOfThread, runningOn) = await Self.onLoop(loop) {
                (LoopAffinity.cpus(of: pthread_self()), Int(CLinux_current_cpu()))
            }
            if let pinned = group.pinnedCPUs {
                #expect(cpusOfThread == [pinned[index]])
                #expect(runningOn == pinned[index])
            } else {
                #expect(cpusOfThread == allowed)
            }
        }
    }

    /// A thread inherits its creator's CPU mask: what a pinned loop creates must not stay
    /// on its CPU, and the process's CPUs read the same from a pinned thread.
    @Test func whatAPinnedLoopStartsGetsEveryCPU() async throws {
        let allowed = LoopAffinity.allowedCPUs()
        let group = try EventLoopGroup(loopCount: allowed.count)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let (seenFromLoop, coresFromLoop) = await Self.onLoop(loop) { (LoopAffinity.allowedCPUs(), EventLoopGroup.coreCount) }
        #expect(seenFromLoop == allowed)
        #expect(coresFromLoop == allowed.count)
        let pool = await Self.onLoop(loop) { BlockingPool(threadCount: 1) }
        defer { pool.shutdown() }
        let poolThreadCPUs = try await pool.run { LoopAffinity.cpus(of: pthread_self()) }
        #expect(poolThreadCPUs == allowed)
    }

    @Test func floatingLoopsAreLeftToTheScheduler() async throws {
        let allowed = LoopAffinity.allowedCPUs()
        let group = try EventLoopGroup(loopCount: allowed.count, affinity: .none)
        defer { group.shutdown() }
        #expect(group.pinnedCPUs == nil)
        for loop in group.loops {
            #expect(await Self.onLoop(loop) { LoopAffinity.cpus(of: pthread_self()) } == allowed)
        }
    }

    /// For each CPU, connections made from a thread pinned to it are accepted by the
    /// listener of the loop pinned to it; without the program they go by hash, which on
    /// this many connections lands some on the other loop (the second half checks that
    /// the first half is not passing by luck of the hash).
    @Test func connectionsAreAcceptedOnTheLoopOfTheirCPU() async throws {
        let allowed = LoopAffinity.allowedCPUs()
        let group = try EventLoopGroup(loopCount: allowed.count)
        defer { group.shutdown() }
        guard let cpus = group.pinnedCPUs else {
            #expect(allowed.count == 1, "one loop per CPU pins the loops whenever there are two or more")
            print("""
                AffinityTests: NOT CHECKED: accepting connections by CPU: this process may use one CPU \
                only (\(allowed)), so there is one loop and nothing to steer between
                """)
            return
        }

        let steered = try await Self.acceptingServer(on: group, steer: true)
        let hashed = try await Self.acceptingServer(on: group, steer: false)
        defer {
            steered.close(on: group)
            hashed.close(on: group)
        }
        let perCPU = 16
        for (loopIndex, cpu) in cpus.enumerated() {
            try await Self.connect(count: perCPU, to: steered.port, fromCPU: cpu)
            try await Self.connect(count: perCPU, to: hashed.port, fromCPU: cpu)
            let steeredLoops = await steered.acceptedLoops(count: perCPU)
            #expect(steeredLoops == Array(repeating: loopIndex, count: perCPU), "from CPU \(cpu)")
            let hashedLoops = await hashed.acceptedLoops(count: perCPU)
            #expect(Set(hashedLoops).count > 1, "the hash alone spread \(perCPU) connections over the loops")
        }
    }

    /// The accept queue a server counts in a loop's load: connections the kernel completed
    /// and nobody accepted yet.
    @Test func aListenerCountsTheConnectionsWaitingToBeAccepted() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let listener = try await Task(executorPreference: loop) {
            try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop)
        }.value
        #expect(listener.queuedConnections == 0)
        let port = listener.localAddress.port
        let clients = try await PinnedClient.run(onCPU: LoopAffinity.allowedCPUs()[0]) {
            (0..<3).map { _ in PinnedClient.connect(port: port) }
        }
        defer { for fd in clients where fd >= 0 { Glibc.close(fd) } }
        #expect(clients.allSatisfy { $0 >= 0 })
        #expect(listener.queuedConnections == 3)
        let accepted = try await Task(executorPreference: loop) { try await listener.accept() }.value
        #expect(listener.queuedConnections == 2)
        await Self.onLoop(loop) {
            accepted.close()
            listener.close()
        }
    }

    // MARK: Helpers

    /// Runs `body` in a task on `loop` and returns its result.
    static func onLoop<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () -> T) async -> T {
        await Task(executorPreference: loop) { body() }.value
    }

    /// One listener per loop on one port, each recording which loop accepted a connection.
    final class AcceptingServer: Sendable {
        let listeners: [TCPListener]
        let port: Int
        private let accepted = Mutex<[Int]>([])

        init(listeners: [TCPListener]) {
            self.listeners = listeners
            self.port = listeners[0].localAddress.port
        }

        func record(_ loopIndex: Int) { accepted.withLock { $0.append(loopIndex) } }

        /// The loops of the next `count` accepted connections, waiting for them (bounded).
        func acceptedLoops(count: Int) async -> [Int] {
            for _ in 0..<500 {
                let taken = accepted.withLock { list -> [Int]? in
                    guard list.count >= count else { return nil }
                    let taken = Array(list.prefix(count))
                    list.removeFirst(count)
                    return taken
                }
                if let taken { return taken }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return accepted.withLock { $0 }
        }

        func close(on group: EventLoopGroup) {
            for listener in listeners { listener.loop.execute { listener.close() } }
        }
    }

    static func acceptingServer(on group: EventLoopGroup, steer: Bool) async throws -> AcceptingServer {
        var listeners: [TCPListener] = []
        var address = SocketAddress(numericHost: "127.0.0.1", port: 0)!
        for loop in group.loops {
            let bound = address
            let listener = try await Task(executorPreference: loop) { try TCPListener(address: bound, on: loop) }.value
            listeners.append(listener)
            address = listener.localAddress
        }
        if steer, let cpus = group.pinnedCPUs { try TCPListener.steerByCPU(listeners, cpus: cpus) }
        let server = AcceptingServer(listeners: listeners)
        for listener in listeners {
            let loop = listener.loop
            Task(executorPreference: loop) {
                while let socket = try? await listener.accept() {
                    server.record(loop.index)
                    socket.close()
                }
            }
        }
        return server
    }

    /// Opens and closes `count` connections with blocking calls from a thread pinned to `cpu`.
    static func connect(count: Int, to port: Int, fromCPU cpu: Int) async throws {
        let failures = try await PinnedClient.run(onCPU: cpu) { () -> Int in
            (0..<count).reduce(0) { failed, _ in
                let fd = PinnedClient.connect(port: port)
                if fd >= 0 { Glibc.close(fd) }
                return failed + (fd < 0 ? 1 : 0)
            }
        }
        #expect(failures == 0)
    }
}
