import ArgumentParser
import Foundation
import LoadTestKit
import Reactor

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Load the API and report throughput, latency percentiles, errors and cache hit rates."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "reads | batch | watchlist | writes | mixed.")
    var scenario: Scenario = .reads

    @Option(help: "Weights for --scenario mixed, e.g. reads=80,batch=10,watchlist=5,writes=5.")
    var mix: String = Mix.default.description

    @Option(help: "How long to measure (after the warm-up), e.g. 20s, 2m.")
    var duration: String?

    @Option(help: "Measure this many requests instead of a duration.")
    var requests: Int?

    @Option(help: "Traffic before the measurement, left out of the figures, e.g. 5s.")
    var warmup: String = "0s"

    @Option(help: "Keep-alive connections (virtual users).")
    var connections: Int = 64

    @Option(help: "Open model: total requests per second, latency from the intended send time. Omit for the closed model.")
    var rate: Double?

    @Option(help: "Movies in the data set (ids first-movie-id ..< first-movie-id + movies).")
    var movies: Int = 10_000

    @Option(name: .customLong("first-movie-id"), help: "Id of the first seeded movie.")
    var firstMovieID: Int = 1

    @Option(help: "Users in the data set.")
    var users: Int = 200

    @Option(name: .customLong("first-user-id"), help: "Id of the first seeded user.")
    var firstUserID: Int = 1

    @Option(help: "Zipf exponent of movie popularity (0 = uniform).")
    var zipf: Double = 1.0

    @Option(name: .customLong("batch-size"), help: "Ids per POST /api/movies/batch.")
    var batchSize: Int = 50

    @Option(name: .customLong("export-share"), help: "Share of watchlist reads that ask for /export (0...1).")
    var exportShare: Double = 0.2

    @Option(name: .customLong("metrics-url"), help: "The movie service's Prometheus endpoint, for its cache counters.")
    var metricsURL: String?

    @Option(name: .customLong("redis-url"), help: "Redis, for INFO stats keyspace hits/misses, e.g. redis://127.0.0.1:6379.")
    var redisURL: String?

    @Option(help: "Write the report as JSON to this file.")
    var json: String?

    @Option(help: "Write the report as a self-contained HTML page to this file.")
    var html: String?

    @Option(help: "Gate, e.g. 'p99<10ms,errors<0.1%,hit_rate>99%': exit 2 when a clause is missed.")
    var slo: String?

    @Flag(help: "Speak HTTP/2: each loop opens one connection and the --connections virtual users are its streams (h2c with prior knowledge for http://, ALPN h2 for https://).")
    var http2 = false

    @Flag(help: "No live progress line.")
    var quiet = false

    func validate() throws {
        if duration == nil && requests == nil { throw ValidationError("give --duration or --requests") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
        if connections < 1 { throw ValidationError("--connections must be at least 1") }
        if zipf < 0 || !zipf.isFinite { throw ValidationError("--zipf must be ≥ 0") }
        if batchSize < 1 || batchSize > 1000 { throw ValidationError("--batch-size must be 1...1000 (the API's limit)") }
    }

    func run() async throws {
        // Parse everything that can be wrong before any traffic.
        let gate = try slo.map { try SLO(parsing: $0) }
        let mixValue = try Mix(parsing: mix)
        let (url, target) = try common.target(http2: http2)
        let metrics = try metricsURL.map { try TargetURL($0, allowedSchemes: ["http"]) }
        let measured = try duration.map { try DurationText.parse($0, option: "duration") }
        let warm = try DurationText.parse(warmup, option: "warmup")
        let configuration = RunConfiguration(
            model: rate.map { .open(rate: $0) } ?? .closed, connections: connections, duration: measured,
            requests: requests, warmup: warm, seed: common.seed)
        let workload = WorkloadSpec(
            scenario: scenario, mix: mixValue, movies: movies, firstMovieID: firstMovieID, users: users,
            firstUserID: firstUserID, zipf: zipf, batchSize: batchSize, exportShare: exportShare)

        let group = try EventLoopGroup(loopCount: max(1, common.loops))
        defer { group.shutdown() }
        let probeLoop = group.loops[0]
        let startedAt = ISO8601DateFormatter().string(from: Date())

        // Cache counters before: at the end of the warm-up (or now, without one).
        let before = ProbeReadings()
        let probe: @Sendable () async -> Void = {
            if let metrics { await before.setMetrics(await Self.read { try await CacheCounterProbe.scrapeMetrics(metrics, on: probeLoop) }) }
            if let redisURL { await before.setRedis(await Self.read { try await CacheCounterProbe.redisKeyspace(redisURL, on: probeLoop) }) }
        }
        if warm == .zero { await probe() }

        Terminal.error(
            "\(scenario.rawValue) against \(url): \(rate.map { "open model at \($0) req/s" } ?? "closed model"), "
                + (http2
                    ? "\(connections) streams on \(group.loops.count) HTTP/2 connections (one per loop)"
                    : "\(connections) connections on \(group.loops.count) loops")
                + (measured.map { ", \($0.seconds)s" } ?? ", \(requests ?? 0) requests")
                + (warm > .zero ? " after \(warm.seconds)s warm-up" : ""))
        let runner = LoadRunner(configuration: configuration, workload: workload, target: target)
        let showProgress: @Sendable (ProgressSnapshot) -> Void = { snapshot in
            Terminal.status(RunCommand.progressLine(snapshot))
        }
        let progress = quiet ? nil : showProgress
        let probeAtMeasurementStart: (@Sendable () async -> Void)? = warm > .zero ? probe : nil
        let outcome = await runner.run(on: group.loops, progress: progress, measurementStarted: probeAtMeasurementStart)
        if !quiet { Terminal.endStatus() }

        // Cache counters after.
        let metricsSource: LoadReport.HitRateSource?
        if let metrics {
            let after = await Self.read { try await CacheCounterProbe.scrapeMetrics(metrics, on: probeLoop) }
            metricsSource = Self.source("movie service /metrics", before: await before.metrics, after: after, hint: "\(metrics)")
        } else {
            metricsSource = nil
        }
        let redisSource: LoadReport.HitRateSource?
        if let redisURL {
            let after = await Self.read { try await CacheCounterProbe.redisKeyspace(redisURL, on: probeLoop) }
            redisSource = Self.source("Redis INFO keyspace", before: await before.redis, after: after, hint: redisURL)
        } else {
            redisSource = nil
        }

        let settings = LoadReport.Settings(
            url: url.description, scenario: scenario.rawValue, mix: scenario == .mixed ? mixValue.description : nil,
            model: rate == nil ? "closed" : "open", rate: rate, connections: connections, loops: group.loops.count,
            durationSeconds: measured?.seconds, requests: requests, warmupSeconds: warm.seconds, zipf: zipf,
            movies: movies, users: users, batchSize: batchSize, seed: common.seed,
            http2Connections: http2 ? min(group.loops.count, connections) : nil)
        var report = LoadReport(
            settings: settings, startedAt: startedAt, outcome: outcome, metrics: metricsSource, redis: redisSource)
        if let gate { report.slo = gate.evaluate(report) }

        print(report.terminalText())
        if let json {
            try report.jsonData().write(to: URL(fileURLWithPath: json))
            Terminal.error("wrote \(json)")
        }
        if let html {
            try Data(report.htmlText().utf8).write(to: URL(fileURLWithPath: html))
            Terminal.error("wrote \(html)")
        }
        if let checks = report.slo, checks.contains(where: { !$0.passed }) {
            Terminal.error("SLO missed: " + checks.filter { !$0.passed }.map { "\($0.clause) (\($0.detail))" }.joined(separator: "; "))
            throw ExitCode(2)
        }
        if outcome.stats.overall.requests == 0 {
            Terminal.error("no request completed")
            throw ExitCode(1)
        }
    }

    static func progressLine(_ snapshot: ProgressSnapshot) -> String {
        let live = snapshot.current
        let elapsed = (snapshot.elapsed * 10).rounded() / 10
        var line = "[\(elapsed)s] \(Int(snapshot.requestsPerSecond.rounded())) req/s"
        if snapshot.warmingUp {
            line += "  warming up (\(live.warmupRequests) requests)"
            return line
        }
        let p99 = live.requests > 0 ? LoadReport.formatMilliseconds(Double(live.latency.valueAtPercentile(99)) / 1000) : "-"
        line += "  p99 \(p99)  errors \(live.errors)"
        let cached = live.hits + live.misses
        if cached > 0 { line += "  hit \((Double(live.hits) / Double(cached) * 1000).rounded() / 10)%" }
        line += "  (\(live.requests) measured)"
        return line
    }

    static func read(_ body: @Sendable @concurrent () async throws -> CacheCounters) async -> Result<CacheCounters, LoadTestError> {
        do {
            return .success(try await body())
        } catch let error as LoadTestError {
            return .failure(error)
        } catch {
            return .failure(LoadTestError(.unreachable, "\(error)"))
        }
    }

    static func source(
        _ name: String, before: Result<CacheCounters, LoadTestError>?, after: Result<CacheCounters, LoadTestError>,
        hint: String
    ) -> LoadReport.HitRateSource {
        switch (before, after) {
        case (.success(let first)?, .success(let last)):
            let delta = last.since(first)
            return LoadReport.HitRateSource(
                source: name, hits: delta.hits, misses: delta.misses, hitRate: delta.hitRate,
                note: delta.hitRate == nil ? "counters did not move" : (delta.hits < 0 || delta.misses < 0 ? "counters went back (restart?)" : nil))
        case (.failure(let error)?, _), (_, .failure(let error)):
            Terminal.error("\(name): \(error)")
            return LoadReport.HitRateSource(source: name, hits: 0, misses: 0, hitRate: nil, note: "unavailable: \(error)")
        case (nil, _):
            return LoadReport.HitRateSource(source: name, hits: 0, misses: 0, hitRate: nil, note: "no reading before the run")
        }
    }
}

/// The "before" readings, written by the probe task at the end of the warm-up.
actor ProbeReadings {
    var metrics: Result<CacheCounters, LoadTestError>?
    var redis: Result<CacheCounters, LoadTestError>?
    func setMetrics(_ value: Result<CacheCounters, LoadTestError>) { metrics = value }
    func setRedis(_ value: Result<CacheCounters, LoadTestError>) { redis = value }
}

extension Scenario: ExpressibleByArgument {}
