/// The order in which a ``BlockingPool``'s threads take queued jobs: one FIFO per lane, the
/// lanes served in turn, and a lane may be capped to a number of jobs running at once.
///
/// Why: with one FIFO, a client that queues ten password hashes makes every other client
/// wait for all ten. Served in turn, a job that arrives in a new lane waits for at most one
/// job of each lane already queued, whatever their lengths. A cap keeps threads for the
/// other lanes: the password hashes of new accounts never take the last thread, so a
/// sign-up flood cannot make a login wait for a thread at all.
///
/// A state machine without threads or locks (the pool holds its lock around every call).
struct FairJobQueue<Job> {
    private struct Lane {
        var jobs = RingBuffer<Job>(initialCapacity: 4)
        var running = 0
        var maxRunning: Int
        /// Whether the lane's name is in `turns` (it is while it has jobs queued).
        var hasTurn = false
    }

    private var lanes: [String: Lane] = [:]
    /// Lanes with queued jobs, in the order they are served; a lane served goes to the back.
    private var turns: [String] = []
    /// Jobs queued, in every lane.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Queues `job` last in lane `name`. `maxRunning` (at least 1) is the lane's cap; the
    /// last one given counts.
    mutating func append(_ job: consuming Job, lane name: String, maxRunning: Int = .max) {
        var lane = lanes.removeValue(forKey: name) ?? Lane(maxRunning: max(1, maxRunning))
        lane.maxRunning = max(1, maxRunning)
        lane.jobs.append(job)
        if !lane.hasTurn {
            lane.hasTurn = true
            turns.append(name)
        }
        lanes[name] = lane
        count += 1
    }

    /// The next job to run and its lane's name, counted as running until ``finished(lane:)``:
    /// the first job of the first lane in turn that is under its cap. nil when nothing is
    /// queued, or every lane with jobs is at its cap.
    mutating func take() -> (job: Job, lane: String)? {
        guard let position = turns.firstIndex(where: { name in
            guard let lane = lanes[name] else { return false }
            return lane.running < lane.maxRunning
        }) else { return nil }
        let name = turns.remove(at: position)
        guard var lane = lanes.removeValue(forKey: name), let job = lane.jobs.popFirst() else { return nil }
        lane.running += 1
        if lane.jobs.isEmpty {
            lane.hasTurn = false
        } else {
            turns.append(name)
        }
        lanes[name] = lane
        count -= 1
        return (job, name)
    }

    /// A job of lane `name` taken by ``take()`` has ended. Returns whether the lane was at
    /// its cap with jobs waiting (a thread waiting for work may now take one).
    @discardableResult
    mutating func finished(lane name: String) -> Bool {
        guard var lane = lanes.removeValue(forKey: name) else { return false }
        let wasCapped = lane.running >= lane.maxRunning && !lane.jobs.isEmpty
        lane.running -= 1
        if lane.running > 0 || !lane.jobs.isEmpty { lanes[name] = lane }
        return wasCapped
    }

    /// Jobs of lane `name` running now.
    func running(in name: String) -> Int { lanes[name]?.running ?? 0 }
}
