import HTTP
import Synchronization

/// One dependency check for `GET /health`: `HealthCheck(name: "database") { await pool.ping() }`.
///
/// A *required* check that fails (or takes longer than its timeout) makes the service
/// unhealthy (503); an *optional* one (the movie service's cache, which it can serve
/// without) reports `"down"` but leaves the status healthy.
public struct HealthCheck: Sendable {
    public let name: String
    public let isRequired: Bool
    public let timeout: Duration
    public let check: @Sendable () async -> Bool

    public init(
        name: String, required: Bool = true, timeout: Duration = .seconds(1),
        check: @escaping @Sendable () async -> Bool
    ) {
        self.name = name
        self.isRequired = required
        self.timeout = timeout
        self.check = check
    }
}

/// Runs health checks concurrently and answers in API.md's shape:
/// `{"status":"healthy","service":"movie-service","checks":{"database":"ok","cache":"ok"}}`.
public struct HealthReport: Sendable, Equatable {
    public var service: String
    /// Check name → passed, in the order the checks were given.
    public var results: [(name: String, ok: Bool, required: Bool)]

    public var isHealthy: Bool { results.allSatisfy { $0.ok || !$0.required } }

    public static func == (lhs: HealthReport, rhs: HealthReport) -> Bool {
        lhs.service == rhs.service && lhs.results.map { "\($0.name)\($0.ok)\($0.required)" }
            == rhs.results.map { "\($0.name)\($0.ok)\($0.required)" }
    }

    /// Runs every check at once, each bounded by its timeout: a check that hangs, even one
    /// that ignores cancellation, counts as down after its timeout and never holds the answer.
    public static func run(service: String, checks: [HealthCheck]) async -> HealthReport {
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for (index, check) in checks.enumerated() {
                group.addTask { (index, await Self.bounded(check)) }
            }
            var outcomes = [Bool](repeating: false, count: checks.count)
            for await (index, ok) in group { outcomes[index] = ok }
            return outcomes
        }
        return HealthReport(
            service: service,
            results: checks.enumerated().map { ($1.name, outcomes[$0], $1.isRequired) })
    }

    /// The check's answer, or false once its timeout passes.
    ///
    /// Why unstructured tasks here: a structured child that ignores cancellation would keep
    /// its group (and so the health response) waiting; racing two unstructured tasks on a
    /// once-only continuation lets the answer go out at the deadline regardless.
    static func bounded(_ check: HealthCheck) async -> Bool {
        let resumed = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            resumed.withLock { $0 = continuation }
            let finish: @Sendable (Bool) -> Void = { ok in
                resumed.withLock { pending in
                    pending?.resume(returning: ok)
                    pending = nil
                }
            }
            let timer = Task {
                // Only a deadline that really passed answers "down": a cancelled sleep (the
                // check finished first) must not race the check's own answer.
                do {
                    try await Task.sleep(for: check.timeout)
                    finish(false)
                } catch {}
            }
            let work = Task {
                let ok = await check.check()
                finish(ok)
                timer.cancel()
            }
            // Once the deadline answered, the check is told to stop (if it listens).
            Task {
                _ = await timer.value
                work.cancel()
            }
        }
    }

    public var jsonBytes: [UInt8] {
        var json = JSONWriter()
        json.object { body in
            body.field("status", isHealthy ? "healthy" : "unhealthy")
            body.field("service", service)
            body.key("checks")
            body.object { checks in
                for result in results { checks.field(result.name, result.ok ? "ok" : "down") }
            }
        }
        return json.bytes
    }

    public var response: HTTPServerResponse {
        var response = HTTPServerResponse.json(isHealthy ? .ok : .serviceUnavailable, jsonBytes)
        response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
        return response
    }
}
