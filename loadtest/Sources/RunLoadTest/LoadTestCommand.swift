import ArgumentParser
import LoadTestKit

/// `loadtest`: seeds the Marquee API with a data set and loads it, with figures worth trusting.
@main
struct LoadTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "Load generator for the Marquee API (closed and open models, HdrHistogram latencies, cache hit rates).",
        discussion: """
            Examples:
              loadtest seed --url http://127.0.0.1:8080 --movies 10000 --users 200 --per-user 20
              loadtest run --url http://127.0.0.1:8080 --scenario reads --duration 20s --connections 64
              loadtest run --url http://127.0.0.1:8080 --scenario mixed --rate 20000 --warmup 5s \\
                --metrics-url http://127.0.0.1:8002/metrics --redis-url redis://127.0.0.1:6379 \\
                --json out.json --html out.html --slo 'p99<10ms,errors<0.1%,hit_rate>99%'
            """,
        subcommands: [RunCommand.self, SeedCommand.self]
    )
}
