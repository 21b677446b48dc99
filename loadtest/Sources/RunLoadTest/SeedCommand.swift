import ArgumentParser
import LoadTestKit
import Reactor

struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Create movies, users and watchlist entries through the API, skipping what exists."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Movies the catalogue should hold.")
    var movies: Int = 10_000

    @Option(help: "Users to create (emails loadtest-user-N@example.com, password pass123).")
    var users: Int = 200

    @Option(name: .customLong("per-user"), help: "Watchlist entries per user (Zipf-drawn movies).")
    var perUser: Int = 20

    @Option(help: "Requests in flight while seeding.")
    var connections: Int = 16

    @Option(help: "Zipf exponent for which movies land on watchlists (0 = uniform).")
    var zipf: Double = 1.0

    func run() async throws {
        // A sign-up waits for its password hash, which a busy machine makes slow: seeding is not
        // a measurement, so it waits longer than a run does.
        let (url, target) = try common.target(defaultTimeout: "30s")
        let group = try EventLoopGroup(loopCount: max(1, common.loops))
        defer { group.shutdown() }
        let plan = Seeder.Plan(
            movies: movies, users: users, perUser: perUser, concurrency: connections, zipf: zipf, seed: common.seed)
        Terminal.error("seeding \(url): \(movies) movies, \(users) users, \(perUser) watchlist entries each")
        let started = monotonicNanoseconds()
        let summary = try await Seeder(target: target, plan: plan).run(on: group.loops) { progress in
            let fraction = progress.total > 0 ? Double(progress.done) / Double(progress.total) : 1
            let filled = Int(fraction * 30)
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 30 - filled)
            Terminal.status(
                "\(progress.phase.padding(toLength: 10, withPad: " ", startingAt: 0)) \(bar) \(Int(fraction * 100))% "
                    + "\(progress.done)/\(progress.total)" + (progress.failed > 0 ? "  failed \(progress.failed)" : ""))
        }
        Terminal.endStatus()
        let seconds = Double(monotonicNanoseconds() - started) / 1e9
        print("movies: \(summary.moviesExisting) existed, \(summary.moviesCreated) created")
        print("users: \(summary.usersExisting) existed, \(summary.usersCreated) created")
        print(
            "watchlists: \(summary.watchlistsSkipped) already full, \(summary.entriesAdded) entries added, "
                + "\(summary.entriesExisting) already there")
        print("done in \((seconds * 10).rounded() / 10)s, \(summary.failures) failures")
        if summary.failures > 0 {
            if let first = summary.firstFailure { Terminal.error("first failure: \(first)") }
            throw ExitCode(1)
        }
    }
}

extension String {
    func padding(toLength length: Int, withPad pad: String, startingAt: Int) -> String {
        count >= length ? self : self + String(repeating: pad, count: length - count)
    }
}
