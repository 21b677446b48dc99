import Synchronization

/// A steady stream of requests to a server that a test stops and starts again: the requests
/// made while it is down must fail (not hang, not succeed), and the same client must serve
/// them again once it is back.
///
/// May be used from any task; the stream itself runs in a task of its own.
public final class RequestStream: Sendable {
    private let request: @Sendable () async throws -> Void
    private let isExpectedFailure: @Sendable (any Error) -> Bool
    /// Successes, expected failures, and the descriptions of any other error.
    private let state = Mutex<(ok: Int, failed: Int, unexpected: [String])>((0, 0, []))

    /// - Parameters:
    ///   - request: one request; it throws when the server cannot answer.
    ///   - isExpectedFailure: whether an error is one an outage may cause (others are reported).
    public init(
        request: @escaping @Sendable () async throws -> Void,
        isExpectedFailure: @escaping @Sendable (any Error) -> Bool = { _ in true }
    ) {
        self.request = request
        self.isExpectedFailure = isExpectedFailure
    }

    public var counts: (ok: Int, failed: Int) { state.withLock { ($0.ok, $0.failed) } }

    /// Streams requests while `stop` and then `start` run, waiting (up to `timeout` each) for a
    /// success before the stop, a failure while the server is down and a success after it is
    /// back.
    /// - Returns: what went wrong; empty when the stream crossed the restart as it should.
    public func acrossRestart(
        timeout: Duration = .seconds(10), stop: () throws -> Void, start: () throws -> Void
    ) async throws -> [String] {
        let running = Task { await run() }
        defer { running.cancel() }
        var problems: [String] = []
        if await !eventually(timeout: timeout, { counts.ok > 0 }) { problems.append("no success before the stop") }
        try stop()
        if await !eventually(timeout: timeout, { counts.failed > 0 }) {
            problems.append("requests kept succeeding with the server stopped")
        }
        let okWhileDown = counts.ok
        try start()
        if await !eventually(timeout: timeout, { counts.ok > okWhileDown }) {
            problems.append("no success after the server came back")
        }
        running.cancel()
        await running.value
        problems += state.withLock { $0.unexpected }.map { "unexpected error: \($0)" }
        return problems
    }

    private func run() async {
        while !Task.isCancelled {
            do {
                try await request()
                state.withLock { $0.ok += 1 }
            } catch let failure where isExpectedFailure(failure) {
                state.withLock { $0.failed += 1 }
                try? await Task.sleep(for: .milliseconds(5))
            } catch {
                state.withLock { $0.unexpected.append("\(error)") }
            }
        }
    }
}
