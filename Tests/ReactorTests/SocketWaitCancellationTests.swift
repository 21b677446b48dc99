import MarqueeTesting
import Synchronization
import Testing

@testable import Reactor

/// Every socket wait ends the same way when its task is cancelled, with or without a
/// deadline, inside a `withCancellableSocketWaits` scope (with the socket reserved for the
/// task or not) or not: at once, with `.cancelled`.
/// Here the deadline (when there is one) is an hour away and the peer neither sends nor
/// reads, so nothing but the cancellation can end the wait.
@Suite("Cancelled socket waits", .serialized, .timeLimit(.minutes(2)))
struct SocketWaitCancellationTests {
    static let group = try! EventLoopGroup(loopCount: 1, affinity: .none)

    enum Direction: String, CaseIterable, Sendable {
        case read, write
    }

    enum Handler: String, CaseIterable, Sendable {
        /// The wait registers its own cancellation handler.
        case perWait
        /// The task's `withCancellableSocketWaits` scope covers the wait.
        case scope
        /// The same, with the socket reserved for the task (as the HTTP/1.1 server does).
        case reserved
    }

    /// With a deadline or not, and which handler covers the wait.
    enum Wait: String, CaseIterable, Sendable {
        case perWaitWithoutDeadline, perWaitWithDeadline, scopeWithoutDeadline, scopeWithDeadline
        case reservedWithoutDeadline, reservedWithDeadline
        var withDeadline: Bool { self == .perWaitWithDeadline || self == .scopeWithDeadline || self == .reservedWithDeadline }
        var handler: Handler {
            switch self {
            case .perWaitWithoutDeadline, .perWaitWithDeadline: .perWait
            case .scopeWithoutDeadline, .scopeWithDeadline: .scope
            case .reservedWithoutDeadline, .reservedWithDeadline: .reserved
            }
        }
    }

    @Test(arguments: Direction.allCases, Wait.allCases)
    func cancellingATaskEndsItsSocketWait(direction: Direction, wait: Wait) async throws {
        let (withDeadline, handler) = (wait.withDeadline, wait.handler)
        let loop = Self.group.loops[0]
        let (socket, peer) = try await LoopEndingTests.pair(on: loop)
        let outcome = Mutex<String?>(nil)
        let task = Task(executorPreference: loop) {
            let anHour = monotonicNanoseconds() &+ 3_600_000_000_000
            if withDeadline {
                socket.readDeadline = anHour
                socket.writeDeadline = anHour
            }
            func waitOnce() async throws {
                switch direction {
                case .read:
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
                    defer { buffer.deallocate() }
                    _ = try await socket.read(into: buffer)
                case .write:
                    // More than loopback's socket buffers hold: the write must wait for room.
                    try await socket.write([UInt8](repeating: 7, count: 64 << 20)[...])
                }
            }
            let ended = await Self.outcome(of: waitOnce, coveredBy: handler, socket: socket, loop: loop)
            outcome.withLock { $0 = ended }
        }
        // Cancel only once the task is inside its wait (a wait begun by a cancelled task
        // fails at once, which is not what this test is about).
        let waiting = await eventually(timeout: .seconds(30)) {
            await Task(executorPreference: loop) {
                direction == .read ? socket.readWaits > 0 : socket.writeWaits > 0
            }.value
        }
        #expect(waiting, "the \(direction.rawValue) never began to wait")
        task.cancel()
        let ended = await eventually(timeout: .seconds(30)) { outcome.withLock { $0 } != nil }
        #expect(ended, "a cancelled \(direction.rawValue) with\(withDeadline ? "" : "out") a deadline went on waiting")
        #expect(outcome.withLock { $0 } == IOError.Code.cancelled.description)
        // Ends the wait if the cancellation did not.
        await Task(executorPreference: loop) {
            socket.close()
            peer.close()
        }.value
        await task.value
    }

    /// Runs `wait` on `loop` under `handler`: "returned", or the code of the `IOError` it threw.
    static func outcome(
        of wait: () async throws -> Void, coveredBy handler: Handler, socket: TCPSocket, loop: EventLoop
    ) async -> String {
        do {
            switch handler {
            case .perWait: try await wait()
            case .scope: try await loop.withCancellableSocketWaits { try await wait() }
            case .reserved:
                try await loop.withCancellableSocketWaits {
                    socket.reserveWaitsForCurrentTask()
                    try await wait()
                }
            }
            return "returned"
        } catch let error as IOError {
            return error.code.description
        } catch {
            return "\(error)"
        }
    }

    final class Outcome: Sendable {
        let value = Mutex<String?>(nil)
    }

    /// A task that reads `socket` once and records how the read ended.
    static func startReading(_ socket: TCPSocket, on loop: EventLoop, into outcome: Outcome) -> Task<Void, Never> {
        Task(executorPreference: loop) {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            do {
                _ = try await socket.read(into: buffer)
                outcome.value.withLock { $0 = "returned" }
            } catch let error as IOError {
                outcome.value.withLock { $0 = error.code.description }
            } catch {
                outcome.value.withLock { $0 = "\(error)" }
            }
        }
    }

    /// Only the task that opened a scope is covered by it: a task started inside inherits the
    /// task-local, not the owner's cancellation. Its wait outlives the owner's cancellation
    /// and ends at its own, through a handler of its own.
    @Test func aTaskStartedInsideAScopeIsNotCancelledWithItsOwner() async throws {
        let loop = Self.group.loops[0]
        let (socket, peer) = try await LoopEndingTests.pair(on: loop)
        let outcome = Outcome()
        let reader = Mutex<Task<Void, Never>?>(nil)
        let owner = Task(executorPreference: loop) {
            await loop.withCancellableSocketWaits {
                reader.withLock { $0 = Self.startReading(socket, on: loop, into: outcome) }
                // The owner itself waits for its cancellation.
                try? await loop.sleep(for: .seconds(3600))
            }
        }
        let waiting = await eventually(timeout: .seconds(30)) {
            await Task(executorPreference: loop) { socket.readWaits > 0 }.value
        }
        #expect(waiting, "the read never began to wait")
        owner.cancel()
        await owner.value
        // A job queued now runs after the one that the owner's cancellation queued.
        let afterOwnerCancelled = await Task(executorPreference: loop) { outcome.value.withLock { $0 } }.value
        #expect(afterOwnerCancelled == nil, "the owner's cancellation ended another task's wait")
        reader.withLock { $0 }?.cancel()
        let ended = await eventually(timeout: .seconds(30)) { outcome.value.withLock { $0 } != nil }
        #expect(ended, "the reader's own cancellation did not end its wait")
        #expect(outcome.value.withLock { $0 } == IOError.Code.cancelled.description)
        await Task(executorPreference: loop) {
            socket.close()
            peer.close()
        }.value
        await reader.withLock { $0 }?.value
    }
}
