import Dispatch
import Synchronization
import Testing

@testable import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// What happens to waits when their loop stops, and to a socket released away from its loop.
@Suite("Loop endings", .serialized, .timeLimit(.minutes(2)))
struct LoopEndingTests {
    static let group = try! EventLoopGroup(loopCount: 1, affinity: .none)

    /// Waits for `condition` for at most `seconds` (polling), true when it held.
    static func eventually(seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
        let deadline = monotonicNanoseconds() &+ UInt64(seconds * 1e9)
        while monotonicNanoseconds() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    /// A connected pair on `loop`: the accepted side and the connecting side.
    static func pair(on loop: EventLoop) async throws -> (TCPSocket, TCPSocket) {
        try await Task(executorPreference: loop) {
            let listener = try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop, reusePort: false)
            defer { listener.close() }
            async let accepted = listener.accept()
            let connected = try await TCPSocket.connect(to: listener.localAddress, on: loop, timeout: .seconds(2))
            return (try await accepted, connected)
        }.value
    }

    final class Outcomes: Sendable {
        let read = Mutex<String?>(nil)
        let sleep = Mutex<String?>(nil)
        let accept = Mutex<String?>(nil)
    }

    @Test func stoppedLoopFailsSocketWaitsAcceptsAndSleepsInsteadOfLeavingThemHanging() async throws {
        let group = try EventLoopGroup(loopCount: 1, affinity: .none)
        let loop = group.loops[0]
        let (server, client) = try await Self.pair(on: loop)
        let listener = try await Task(executorPreference: loop) {
            try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop, reusePort: false)
        }.value
        let outcomes = Outcomes()
        let sockets = [server, client]
        Task(executorPreference: loop) {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            do {
                _ = try await server.read(into: buffer)  // no deadline, nothing will come
                outcomes.read.withLock { $0 = "returned" }
            } catch {
                outcomes.read.withLock { $0 = "\(error)" }
            }
        }
        Task(executorPreference: loop) {
            do {
                try await loop.sleep(for: .seconds(3600))
                outcomes.sleep.withLock { $0 = "returned" }
            } catch {
                outcomes.sleep.withLock { $0 = "\(error)" }
            }
        }
        Task(executorPreference: loop) {
            do {
                _ = try await listener.accept()
                outcomes.accept.withLock { $0 = "returned" }
            } catch {
                outcomes.accept.withLock { $0 = "\(error)" }
            }
        }
        try await Task.sleep(for: .milliseconds(100))  // let all three begin waiting
        group.shutdown()
        let ended = await Self.eventually {
            outcomes.read.withLock { $0 } != nil && outcomes.sleep.withLock { $0 } != nil
                && outcomes.accept.withLock { $0 } != nil
        }
        #expect(ended, "waits left hanging: read \(String(describing: outcomes.read.withLock { $0 })), sleep \(String(describing: outcomes.sleep.withLock { $0 })), accept \(String(describing: outcomes.accept.withLock { $0 }))")
        #expect(outcomes.read.withLock { $0 }?.contains("event loop stopped") == true)
        #expect(outcomes.sleep.withLock { $0 }?.contains("event loop stopped") == true)
        #expect(outcomes.accept.withLock { $0 }?.contains("event loop stopped") == true)
        _ = sockets
    }

    /// A socket whose last reference goes away on another thread hands its descriptor to its
    /// loop, which closes it (the peer reads end of stream), instead of trapping.
    @Test func socketReleasedOffItsLoopIsClosedByItsLoop() async throws {
        let loop = Self.group.loops[0]
        var pair: (TCPSocket, TCPSocket)? = try await Self.pair(on: loop)
        let peer = pair!.1
        let fd = pair!.0.fd
        #expect(!loop.inLoop)
        pair = nil  // the accepted socket's last reference, dropped off the loop
        let peerEnded = try await Task(executorPreference: loop) { () -> Bool in
            peer.readDeadline = monotonicNanoseconds() &+ 5_000_000_000
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            return (try? await peer.read(into: buffer)) == 0
        }.value
        #expect(peerEnded, "the released socket's descriptor \(fd) was not closed")
        await Task(executorPreference: loop) { peer.close() }.value
    }
}


/// The cancellation handler of a wait without a deadline reaches the loop as a job: it must
/// end only the wait it was made for. The test builds the one ordering where it comes late:
/// task T's read is woken by data, T is cancelled from another thread before its job runs
/// (so the handler's job waits in the loop's remote queue), and T hands the socket to task
/// U, which begins a read of its own before that job runs. U's read must not be ended by
/// T's stale handler.
@Suite("Cancellation of socket waits", .serialized, .timeLimit(.minutes(1)))
struct StaleCancellationTests {
    static let group = try! EventLoopGroup(loopCount: 1, affinity: .none)

    final class Handoff: @unchecked Sendable {
        var u: CheckedContinuation<Void, Never>?
        var t: Task<Void, Never>?
        let uResult = Mutex<String?>(nil)
        let cancelRequested = DispatchSemaphore(value: 0)
        let cancelDone = DispatchSemaphore(value: 0)
    }

    @Test func staleCancellationHandlerDoesNotEndALaterWait() async throws {
        let loop = Self.group.loops[0]
        let (socket, peer) = try await LoopEndingTests.pair(on: loop)
        let handoff = Handoff()
        // U waits to be handed the socket, then reads it without a deadline.
        Task(executorPreference: loop) {
            await withCheckedContinuation { handoff.u = $0 }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            do {
                let count = try await socket.read(into: buffer)
                handoff.uResult.withLock { $0 = "read \(count)" }
            } catch {
                handoff.uResult.withLock { $0 = "\(error)" }
            }
        }
        // T reads without a deadline, then hands the socket to U.
        handoff.t = Task(executorPreference: loop) {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            _ = try? await socket.read(into: buffer)
            handoff.u?.resume()
        }
        // Another thread cancels T when asked.
        DispatchQueue.global().async {
            handoff.cancelRequested.wait()
            handoff.t?.cancel()
            handoff.cancelDone.signal()
        }
        // A pipe whose readiness comes first in the same epoll batch as T's socket: its
        // handler queues job X ahead of T's resumed job; X has T cancelled, from the other
        // thread, and waits until that is done.
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let (readFD, writeFD) = (fds[0], fds[1])
        _ = fcntl(readFD, F_SETFL, O_NONBLOCK)
        let registration = try await Task(executorPreference: loop) {
            try RegistrationBox(loop.register0(fd: readFD, interest: .read) { _ in
                var byte: UInt8 = 0
                guard Glibc.read(readFD, &byte, 1) == 1 else { return }
                loop.execute0 {
                    handoff.cancelRequested.signal()
                    handoff.cancelDone.wait()
                }
            })
        }.value
        try await Task.sleep(for: .milliseconds(100))  // T and U are waiting
        await Task(executorPreference: loop) {
            // Both become ready while the loop is busy here: one epoll batch, pipe first.
            var byte: UInt8 = 1
            _ = Glibc.write(writeFD, &byte, 1)
            _ = Array("first".utf8).withUnsafeBytes { Glibc.write(peer.fd, $0.baseAddress, $0.count) }
        }.value
        try await Task.sleep(for: .milliseconds(300))  // T's handler job has run by now
        #expect(handoff.uResult.withLock { $0 } == nil, "U's wait was ended by T's cancellation")
        await Task(executorPreference: loop) {
            _ = Array("second".utf8).withUnsafeBytes { Glibc.write(peer.fd, $0.baseAddress, $0.count) }
        }.value
        let deadline = monotonicNanoseconds() &+ 5_000_000_000
        while handoff.uResult.withLock({ $0 }) == nil && monotonicNanoseconds() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(handoff.uResult.withLock { $0 } == "read 6")
        await Task(executorPreference: loop) {
            socket.close()
            peer.close()
        }.value
        await Task(executorPreference: loop) { loop.deregister0(registration.registration) }.value
        close(readFD)
        close(writeFD)
    }

    final class RegistrationBox: @unchecked Sendable {
        let registration: IORegistration
        init(_ registration: IORegistration) { self.registration = registration }
    }
}

