import Reactor

/// Runs virtual users over the event loops and collects their figures.
///
/// Each connection is one worker task on one loop (round robin), with its own executor,
/// its own request generator and the loop's ``LoopRecorder``. A progress task reports once
/// a second, and a probe hook runs when the warm-up ends (the "before" snapshots of the
/// cache counters).
public struct LoadRunner: Sendable {
    public let configuration: RunConfiguration
    public let workload: WorkloadSpec
    public let target: any LoadTarget

    public init(configuration: RunConfiguration, workload: WorkloadSpec, target: any LoadTarget) {
        self.configuration = configuration
        self.workload = workload
        self.target = target
    }

    /// What a run produced.
    public struct Outcome: Sendable {
        public var stats: RunStats
        /// From the end of the warm-up to the last response, in seconds.
        public var measuredSeconds: Double
        /// Monotonic time (ns) when the measurement started and ended.
        public var measureStart: UInt64
        public var measureEnd: UInt64
    }

    /// Runs to the end; `progress` is called about once a second from a task of its own,
    /// and `measurementStarted` once, when the warm-up is over.
    public func run(
        on loops: [EventLoop],
        progress: (@Sendable (ProgressSnapshot) -> Void)? = nil,
        measurementStarted: (@Sendable () async -> Void)? = nil
    ) async -> Outcome {
        precondition(!loops.isEmpty, "no event loops")
        let clock = MonotonicClock()
        let openModel = configuration.isOpen
        let recorders = loops.map { LoopRecorder(loop: $0, openModel: openModel) }
        let zipf = ZipfSampler(count: workload.movies, exponent: workload.zipf)
        // Start a little in the future so that every worker shares one time origin.
        let start = clock.now() &+ 10_000_000
        let measureStart = start &+ configuration.warmup.nanoseconds
        let deadline: UInt64 = configuration.duration.map { measureStart &+ $0.nanoseconds } ?? .max
        let connections = configuration.connections

        let finished = await withTaskGroup(of: UInt64?.self, returning: UInt64.self) { outer in
            outer.addTask {
                await withTaskGroup(of: Void.self) { workers in
                    for index in 0..<connections {
                        let loop = loops[index % loops.count]
                        let recorder = recorders[index % loops.count]
                        let quota = configuration.requests.map { total in
                            total / connections + (index < total % connections ? 1 : 0)
                        }
                        let generator = RequestGenerator(spec: workload, zipf: zipf, seed: configuration.seed, user: index)
                        let worker = Worker(
                            index: index, loop: loop, recorder: recorder, target: target, generator: generator,
                            model: configuration.model, connections: connections, start: start,
                            measureStart: measureStart, deadline: deadline, quota: quota,
                            durationSeconds: configuration.duration.map { Int(($0.nanoseconds + 999_999_999) / 1_000_000_000) })
                        workers.addTask(executorPreference: loop) { await worker.run() }
                    }
                }
                return clock.now()
            }
            if let measurementStarted {
                outer.addTask(executorPreference: loops[0]) {
                    let now = clock.now()
                    if measureStart > now { try? await loops[0].sleep(for: .nanoseconds(Int64(measureStart - now))) }
                    if Task.isCancelled { return nil }
                    await measurementStarted()
                    return nil
                }
            }
            if let progress {
                outer.addTask(executorPreference: loops[0]) {
                    var previous = LiveCounters()
                    var lastTime = start
                    while !Task.isCancelled {
                        try? await loops[0].sleep(for: .seconds(1))
                        if Task.isCancelled { break }
                        var live = LiveCounters()
                        for recorder in recorders { live.merge(await recorder.live()) }
                        let now = clock.now()
                        progress(ProgressSnapshot(
                            now: now, start: start, measureStart: measureStart, deadline: deadline,
                            current: live, previous: previous, interval: Double(now &- lastTime) / 1e9))
                        previous = live
                        lastTime = now
                    }
                    return nil
                }
            }
            var end: UInt64 = 0
            // The first result with a time is the workers' group: the run is over.
            while let result = await outer.next() {
                if let time = result {
                    end = time
                    outer.cancelAll()
                }
            }
            return end
        }

        var stats = RunStats(openModel: openModel)
        for recorder in recorders { stats.merge(await recorder.snapshot()) }
        let measured = finished > measureStart ? Double(finished - measureStart) / 1e9 : 0
        return Outcome(stats: stats, measuredSeconds: measured, measureStart: measureStart, measureEnd: finished)
    }
}

/// The figures the live progress line shows.
public struct ProgressSnapshot: Sendable {
    public var now: UInt64
    public var start: UInt64
    public var measureStart: UInt64
    public var deadline: UInt64
    public var current: LiveCounters
    public var previous: LiveCounters
    /// Seconds since the previous snapshot.
    public var interval: Double

    public var warmingUp: Bool { now < measureStart }
    public var elapsed: Double { Double(now &- start) / 1e9 }
    public var requestsPerSecond: Double {
        let done = (current.requests + current.warmupRequests) - (previous.requests + previous.warmupRequests)
        return interval > 0 ? Double(done) / interval : 0
    }
}
