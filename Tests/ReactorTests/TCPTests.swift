import Synchronization
import Testing

@testable import Reactor

#if canImport(Glibc)
import Glibc
#endif

@Suite("TCP sockets over loopback", .timeLimit(.minutes(10)))
struct TCPTests {
    static let group = try! EventLoopGroup(loopCount: 2)

    /// Starts an echo server on `loop`, returns its port and the listener.
    static func startEcho(on loop: EventLoop) async throws -> TCPListener {
        let listener = try await Task(executorPreference: loop) {
            try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop)
        }.value
        Task(executorPreference: loop) {
            while let socket = try? await listener.accept() {
                Task(executorPreference: loop) {
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
                    defer { buffer.deallocate() }
                    while let count = try? await socket.read(into: buffer), count > 0 {
                        try? await socket.write(Array(buffer[0..<count]))
                    }
                    socket.close()
                }
            }
        }
        return listener
    }

    @Test func echoRoundTripsBytesInBothDirections() async throws {
        let serverLoop = Self.group.loops[0]
        let listener = try await Self.startEcho(on: serverLoop)
        let port = listener.localAddress.port
        let clientLoop = Self.group.loops[1]
        let echoed = try await Task(executorPreference: clientLoop) { () -> [UInt8] in
            let socket = try await TCPSocket.connect(
                to: SocketAddress(numericHost: "127.0.0.1", port: port)!, on: clientLoop, timeout: .seconds(2))
            defer { socket.close() }
            // Larger than the socket buffers, so that both sides must wait for writability.
            let payload = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            async let sent: Void = socket.write(payload)
            var received: [UInt8] = []
            received.reserveCapacity(payload.count)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
            defer { buffer.deallocate() }
            while received.count < payload.count {
                let count = try await socket.read(into: buffer)
                if count == 0 { break }
                received.append(contentsOf: buffer[0..<count])
            }
            try await sent
            #expect(received == payload)
            return Array(received.prefix(3))
        }.value
        #expect(echoed == [0, 31, 62])
        await Task(executorPreference: serverLoop) { listener.close() }.value
    }

    @Test func readDeadlineFailsAWaitingReadWithTimedOut() async throws {
        let loop = Self.group.loops[0]
        let listener = try await Self.startEcho(on: loop)
        let port = listener.localAddress.port
        let error = await Task(executorPreference: loop) { () -> IOError? in
            do {
                let socket = try await TCPSocket.connect(
                    to: SocketAddress(numericHost: "127.0.0.1", port: port)!, on: loop, timeout: .seconds(2))
                defer { socket.close() }
                socket.readDeadline = monotonicNanoseconds() + 20_000_000
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
                defer { buffer.deallocate() }
                _ = try await socket.read(into: buffer)
                return nil
            } catch {
                return error as? IOError
            }
        }.value
        #expect(error?.code == .timedOut)
        await Task(executorPreference: loop) { listener.close() }.value
    }

    @Test func connectToAClosedPortFailsWithConnectionRefused() async throws {
        let loop = Self.group.loops[1]
        // Bind then close to find a port nobody listens on.
        let port = try await Task(executorPreference: loop) { () -> Int in
            let listener = try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop)
            defer { listener.close() }
            return listener.localAddress.port
        }.value
        await #expect(throws: IOError.self) {
            _ = try await TCPSocket.connect(
                to: SocketAddress(numericHost: "127.0.0.1", port: port)!, on: loop, timeout: .seconds(1))
        }
    }

    @Test func closingAListenerWakesItsAcceptWithClosed() async throws {
        let loop = Self.group.loops[0]
        let listener = try await Task(executorPreference: loop) {
            try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop)
        }.value
        let accepting = Task(executorPreference: loop) { () -> IOError? in
            do { _ = try await listener.accept(); return nil } catch { return error as? IOError }
        }
        try await Task.sleep(for: .milliseconds(10))
        await Task(executorPreference: loop) { listener.close() }.value
        #expect(await accepting.value?.code == .closed)
    }

    /// A connected pair on `loop`: the accepted side and the connecting side.
    static func connectedPair(on loop: EventLoop) async throws -> (accepted: TCPSocket, connecting: TCPSocket) {
        try await Task(executorPreference: loop) {
            let listener = try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop)
            defer { listener.close() }
            async let accepted = listener.accept()
            let connecting = try await TCPSocket.connect(
                to: SocketAddress(numericHost: "127.0.0.1", port: listener.localAddress.port)!, on: loop,
                timeout: .seconds(2))
            return (try await accepted, connecting)
        }.value
    }

    /// Reads until `count` bytes or end of stream.
    static func read(_ socket: TCPSocket, count: Int) async throws -> [UInt8] {
        var received: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { buffer.deallocate() }
        while received.count < count {
            let n = try await socket.read(into: buffer)
            if n == 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        return received
    }

    /// The HTTP server learns that a client went away while its handler runs, when nothing
    /// reads the socket: data that arrives is not a close; the close is reported once.
    @Test func aPeerThatClosesIsReportedWhileNobodyReads() async throws {
        let loop = Self.group.loops[0]
        let (server, client) = try await Self.connectedPair(on: loop)
        let reports = try await Task(executorPreference: loop) { () -> [Int] in
            var calls = 0
            server.onPeerClosed = { calls += 1 }
            try await client.write(Array("GET / HTTP/1.1\r\n\r\n".utf8))
            try await loop.sleep(for: .milliseconds(100))
            let afterData = calls
            client.close()
            for _ in 0..<500 where calls == 0 { try await loop.sleep(for: .milliseconds(10)) }
            let afterClose = calls
            try await loop.sleep(for: .milliseconds(100))
            server.close()
            return [afterData, afterClose, calls, server.isPeerClosed ? 1 : 0]
        }.value
        #expect(reports == [0, 1, 1, 1], "data, close, later, isPeerClosed: \(reports)")
    }

    @Test func endOfRoundSendWaitsForTheRoundThenArrives() async throws {
        let loop = Self.group.loops[0]
        let (server, client) = try await Self.connectedPair(on: loop)
        let (unsentDuringTheRound, received) = try await Task(executorPreference: loop) {
            () -> (Bool, [UInt8]) in
            defer { server.close(); client.close() }
            var bytes = Array("HTTP/1.1 200 OK\r\n\r\n".utf8)
            #expect(server.sendAtEndOfRound(&bytes))
            #expect(bytes.isEmpty)
            // Still in the same job: nothing may have been sent yet.
            var probe: UInt8 = 0
            let peeked = recv(client.fd, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            let received = try await Self.read(client, count: 19)
            return (peeked < 0 && errno == EAGAIN, received)
        }.value
        #expect(unsentDuringTheRound)
        #expect(received == Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
    }

    /// What follows an end-of-round send larger than the socket buffers.
    enum AfterDeferring: CaseIterable, Sendable {
        /// Nothing: the socket sends the rest itself as epoll reports room.
        case nothing
        /// A write, whose bytes must come after the deferred ones.
        case write
        /// `finishSends()` and then `close()`: nothing may be cut off.
        case finishThenClose
    }

    @Test(arguments: AfterDeferring.allCases)
    func endOfRoundSendLargerThanTheBufferArrivesWholeAndInOrder(then next: AfterDeferring) async throws {
        let loop = Self.group.loops[1]
        let (server, client) = try await Self.connectedPair(on: loop)
        let payload = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let tail = Array("tail".utf8)
        let expected = next == .write ? payload + tail : payload
        let received = try await Task(executorPreference: loop) { () -> [UInt8] in
            defer { server.close(); client.close() }
            var bytes = payload
            #expect(server.sendAtEndOfRound(&bytes))
            // After a close, read up to the end of stream, to see that nothing more comes.
            async let reading = Self.read(client, count: next == .finishThenClose ? expected.count + 1 : expected.count)
            switch next {
            case .nothing: break
            case .write: try await server.write(tail)
            case .finishThenClose:
                try await server.finishSends()
                server.close()
            }
            return try await reading
        }.value
        #expect(received.count == expected.count)
        let same = received == expected  // (not in #expect: megabytes in a failure message)
        #expect(same)
    }

    @Test func closeRightAfterAnEndOfRoundSendStillSendsIt() async throws {
        let loop = Self.group.loops[0]
        let (server, client) = try await Self.connectedPair(on: loop)
        let received = try await Task(executorPreference: loop) { () -> [UInt8] in
            defer { client.close() }
            var bytes = Array(repeating: UInt8(ascii: "x"), count: 1000)
            #expect(server.sendAtEndOfRound(&bytes))
            server.close()
            return try await Self.read(client, count: 2000)  // stops at end of stream
        }.value
        #expect(received == Array(repeating: UInt8(ascii: "x"), count: 1000))
    }

    @Test func blockingPoolRunsWorkOffTheLoops() async throws {
        let onLoop = try await BlockingPool.shared.run { EventLoop.current != nil }
        #expect(onLoop == false)
        let resolved = try await SocketAddress.resolve(host: "localhost", port: 80)
        #expect(resolved.first?.host == "127.0.0.1")
    }
}

@Suite("Signals", .timeLimit(.minutes(10)))
struct SignalTests {
    @Test func aSignalSentToTheProcessArrivesOnTheStream() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { group.shutdown() }
        // SIGUSR1 is unused elsewhere in the tests; its default action would end the process.
        let signals = SignalWatcher.watch([SIGUSR1], on: group.loops[0])
        try await Task.sleep(for: .milliseconds(50))
        kill(getpid(), SIGUSR1)
        var iterator = signals.makeAsyncIterator()
        let received = await iterator.next()
        #expect(received == SIGUSR1)
    }
}

@Suite("Socket addresses", .timeLimit(.minutes(10)))
struct SocketAddressTests {
    /// `host` formats IPv4 itself; inet_ntop is the reference it must agree with.
    @Test(arguments: ["0.0.0.0", "1.2.3.4", "10.0.0.1", "127.0.0.1", "192.168.100.255", "9.99.100.255", "255.255.255.255"])
    func ipv4HostTextMatchesInetNtop(_ text: String) throws {
        let address = try #require(SocketAddress(numericHost: text, port: 80))
        #expect(address.host == text)
        var raw = in_addr()
        #expect(inet_pton(AF_INET, text, &raw) == 1)
        var buffer = [CChar](repeating: 0, count: 16)
        _ = inet_ntop(AF_INET, &raw, &buffer, 16)
        #expect(address.host == String(cString: buffer))
    }

    @Test func randomIPv4AddressesRoundTrip() throws {
        for _ in 0..<1000 {
            let octets = (0..<4).map { _ in Int.random(in: 0...255) }
            let text = octets.map(String.init).joined(separator: ".")
            #expect(SocketAddress(numericHost: text, port: 1)?.host == text)
        }
    }

    @Test func ipv6HostText() throws {
        #expect(SocketAddress(numericHost: "::1", port: 80)?.host == "::1")
        #expect(SocketAddress(numericHost: "[2001:db8::7]", port: 80)?.host == "2001:db8::7")
    }
}
