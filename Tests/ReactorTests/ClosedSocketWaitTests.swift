import MarqueeTesting
import Synchronization
import Testing

@testable import Reactor

/// A wait begun on a socket already closed fails with `.closed` at once, in either direction,
/// whichever handler covers it, and without suspending: `close()` ends only the waits in
/// progress, so nothing else would end such a wait but its deadline (an hour away here).
@Suite("Waits on a closed socket", .serialized, .timeLimit(.minutes(2)))
struct ClosedSocketWaitTests {
    typealias Direction = SocketWaitCancellationTests.Direction
    typealias Handler = SocketWaitCancellationTests.Handler

    @Test(arguments: Direction.allCases, Handler.allCases)
    func aWaitBegunOnAClosedSocketFailsAtOnce(direction: Direction, handler: Handler) async throws {
        let loop = SocketWaitCancellationTests.group.loops[0]
        let (socket, peer) = try await LoopEndingTests.pair(on: loop)
        let outcome = Mutex<String?>(nil)
        let task = Task(executorPreference: loop) {
            let anHour = monotonicNanoseconds() &+ 3_600_000_000_000
            socket.readDeadline = anHour
            socket.writeDeadline = anHour
            socket.close()
            func waitOnce() async throws {
                switch direction {
                case .read: try await socket.waitUntilReadable()
                case .write: try await socket.waitUntilWritable()
                }
            }
            let ended = await SocketWaitCancellationTests.outcome(of: waitOnce, coveredBy: handler, socket: socket, loop: loop)
            outcome.withLock { $0 = ended }
        }
        let ended = await eventually(timeout: .seconds(30)) { outcome.withLock { $0 } != nil }
        #expect(ended, "a \(direction.rawValue) wait begun on a closed socket went on waiting")
        #expect(outcome.withLock { $0 } == IOError.Code.closed.description)
        let suspended = await Task(executorPreference: loop) {
            direction == .read ? socket.readWaits : socket.writeWaits
        }.value
        #expect(suspended == 0, "the wait suspended before it failed")
        await Task(executorPreference: loop) { peer.close() }.value
        task.cancel()  // ends the wait if nothing else did
        await task.value
    }

    /// The callback forms call back at once, before they return; a peek fails like a wait.
    @Test func callbackWaitsAndPeeksOnAClosedSocketEndAtOnce() async throws {
        let loop = SocketWaitCancellationTests.group.loops[0]
        let (socket, peer) = try await LoopEndingTests.pair(on: loop)
        let (readable, firstReadable, peek) = await Task(executorPreference: loop) {
            socket.readDeadline = monotonicNanoseconds() &+ 3_600_000_000_000
            socket.close()
            var readable = false
            socket.whenReadable { readable = true }
            var firstReadable = false
            socket.whenFirstReadable { firstReadable = true }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
            defer { buffer.deallocate() }
            let peek: String
            do {
                let count = try socket.peek(into: buffer)
                peek = "returned \(String(describing: count))"
            } catch let error as IOError {
                peek = error.code.description
            } catch {
                peek = "\(error)"
            }
            peer.close()
            return (readable, firstReadable, peek)
        }.value
        #expect(readable, "whenReadable on a closed socket did not call back at once")
        #expect(firstReadable, "whenFirstReadable on a closed socket did not call back at once")
        #expect(peek == IOError.Code.closed.description)
    }
}
