import Reactor

/// One virtual user: a connection, a request generator, and the loop it runs on.
struct Worker: Sendable {
    let index: Int
    let loop: EventLoop
    let recorder: LoopRecorder
    let target: any LoadTarget
    var generator: RequestGenerator
    let model: RunConfiguration.Model
    let connections: Int
    let start: UInt64
    let measureStart: UInt64
    let deadline: UInt64
    let quota: Int?
    /// Responses after the deadline are filed in the last second, not a partial extra one.
    let durationSeconds: Int?

    /// Runs until the deadline or the quota; on the worker's loop.
    func run() async {
        var generator = generator
        let executor = target.makeExecutor(on: loop)
        defer { executor.close() }
        let clock = MonotonicClock()
        let now = clock.now()
        if start > now { try? await loop.sleep(for: .nanoseconds(Int64(start - now))) }
        var measured = 0
        switch model {
        case .closed:
            while !Task.isCancelled {
                let sentAt = clock.now()
                if sentAt >= deadline || (quota.map { measured >= $0 } ?? false) { break }
                let request = generator.next()
                let result = await executor.send(request)
                let done = clock.now()
                if await record(request.endpoint, result, latency: done &- sentAt, serviceTime: done &- sentAt, at: done) {
                    measured += 1
                }
            }
        case .open(let rate):
            let perConnection = rate / Double(connections)
            // Spread the connections' first sends over one interval, so they don't all fire together.
            let phase = UInt64(1e9 / perConnection * Double(index) / Double(connections))
            var schedule = OpenLoopScheduler(clock: clock, start: start, rate: perConnection, phase: phase, end: deadline)
            loop: while !Task.isCancelled {
                if quota.map({ measured >= $0 }) ?? false { break }
                switch schedule.nextAction() {
                case .finished:
                    break loop
                case .wait(let until):
                    let now = clock.now()
                    if until > now { try? await loop.sleep(for: .nanoseconds(Int64(until - now))) }
                case .send(let intended):
                    // Past the end, stop rather than work off a backlog: the run lasts what was
                    // asked, and the requests still owed are counted as unsent.
                    if clock.now() >= deadline {
                        await recorder.recordUnsent(schedule.owed())
                        break loop
                    }
                    schedule.sent()
                    let sentAt = clock.now()
                    let request = generator.next()
                    let result = await executor.send(request)
                    let timing = schedule.completed(intended: intended, sentAt: sentAt)
                    if await record(request.endpoint, result, latency: timing.latency, serviceTime: timing.serviceTime, at: clock.now()) {
                        measured += 1
                    }
                }
            }
        }
    }

    /// Files one response; returns whether it counted (false during the warm-up).
    private func record(_ endpoint: Endpoint, _ result: LoadResult, latency: UInt64, serviceTime: UInt64, at done: UInt64) async -> Bool {
        if done < measureStart {
            await recorder.recordWarmup()
            return false
        }
        var second = Int((done - measureStart) / 1_000_000_000)
        if let durationSeconds, durationSeconds > 0 { second = min(second, durationSeconds - 1) }
        await recorder.record(endpoint, result, latency: latency, serviceTime: serviceTime, second: second)
        return true
    }
}
