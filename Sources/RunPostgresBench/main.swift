// pg-bench: primary-key SELECTs through Marquee's Postgres pool, to compare with
// `pgbench -S` on the same cluster (see loadtest/bench-postgres.sh).
//
//   pg-bench --url URL [--connections N] [--duration 10s] [--loops L] [--concurrency C]
//
// N connections in total, split over L event loops (a pool per loop); C tasks per loop each
// run `SELECT abalance FROM pgbench_accounts WHERE aid = $1` with a random aid in a loop,
// so that a connection carries many queries per round trip (pipeline mode).

import Postgres
import Reactor
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var url = "postgresql://postgres@127.0.0.1:5432/postgres"
    var connections = 8
    var duration = Duration.seconds(10)
    var loops = EventLoopGroup.coreCount
    var concurrency = 64

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var index = 0
        func value() -> String {
            index += 1
            guard index < arguments.count else { fail("\(arguments[index - 1]) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--url": options.url = value()
            case "--connections", "-c": options.connections = positive(value())
            case "--loops": options.loops = positive(value())
            case "--concurrency": options.concurrency = positive(value())
            case "--duration", "-T":
                var text = value()
                if text.hasSuffix("s") { text.removeLast() }
                guard let seconds = Double(text), seconds > 0 else { fail("bad duration") }
                options.duration = .milliseconds(Int(seconds * 1000))
            case "--help", "-h":
                print("usage: pg-bench --url URL [--connections N] [--duration 10s] [--loops L] [--concurrency C]")
                exit(0)
            default: fail("unknown argument \(arguments[index])")
            }
            index += 1
        }
        return options
    }
}

func fail(_ message: String) -> Never {
    var line = "pg-bench: \(message)\n"
    _ = line.withUTF8 { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

func positive(_ text: String) -> Int {
    guard let value = Int(text), value > 0 else { fail("'\(text)' is not a positive number") }
    return value
}

/// xorshift64*: a random aid per query without a syscall.
struct FastRandom {
    var state: UInt64
    mutating func next(below bound: Int) -> Int {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return Int((state &* 2_685_821_657_736_338_717) % UInt64(bound))
    }
}

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let configuration: PostgresConfiguration
do { configuration = try PostgresConfiguration(url: options.url) } catch { fail("\(error)") }
let loops = min(options.loops, options.connections)
let group = try EventLoopGroup(loopCount: loops)
let perLoop = (options.connections + loops - 1) / loops
let client = PostgresClient(
    configuration: configuration, group: group, minConnections: perLoop, maxConnections: perLoop,
    maxWaiters: options.concurrency * 2, maxPipelineDepth: options.concurrency)

let accounts: Int
do {
    accounts = try await client.query("SELECT max(aid) FROM pgbench_accounts")[0].decode(Int.self, column: 0)
} catch {
    fail("cannot read pgbench_accounts (run pgbench -i first): \(error)")
}

// Warm up: every connection open.
for pool in client.pools {
    while await pool.statistics().ready < perLoop { try await Task.sleep(for: .milliseconds(10)) }
}

let totalQueries = Atomic<Int>(0)
let totalErrors = Atomic<Int>(0)
let start = ContinuousClock.now
let deadline = start + options.duration
await withTaskGroup(of: Void.self) { group in
    for (loopIndex, pool) in client.pools.enumerated() {
        group.addTask(executorPreference: pool.loop) {
            await withTaskGroup(of: (Int, Int).self) { tasks in
                for taskIndex in 0..<options.concurrency {
                    tasks.addTask {
                        var random = FastRandom(state: UInt64(loopIndex * 1000 + taskIndex + 1) &* 0x9E37_79B9_7F4A_7C15)
                        var (done, errors) = (0, 0)
                        while ContinuousClock.now < deadline {
                            do {
                                let rows = try await pool.query(
                                    "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
                                    [.int(1 + random.next(below: accounts))])
                                _ = try rows[0].decode(Int.self, column: 0)
                                done += 1
                            } catch {
                                errors += 1
                            }
                        }
                        return (done, errors)
                    }
                }
                for await (done, errors) in tasks {
                    totalQueries.add(done, ordering: .relaxed)
                    totalErrors.add(errors, ordering: .relaxed)
                }
            }
        }
    }
}
let elapsed = ContinuousClock.now - start
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let queries = totalQueries.load(ordering: .relaxed)
print(
    "pg-bench: connections=\(perLoop * loops) loops=\(loops) concurrency=\(options.concurrency * loops) "
        + "queries=\(queries) errors=\(totalErrors.load(ordering: .relaxed)) seconds=\(String(format2(seconds)))")
print("tps = \(Int(Double(queries) / seconds))")
await client.shutdown()
group.shutdown()

func format2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}
