// redis-bench: GET throughput of the Redis driver, to hold against `redis-benchmark -t get`.
//
//   redis-bench [--url redis://127.0.0.1:6379] [--concurrency N] [--loops L] [--duration 10s]
//               [--warmup 1s] [--value-size 100]
//
// N GETs are in flight at all times (N tasks, split evenly over L loops; one connection per
// loop, so each connection pipelines N/L commands), the same concurrency as
// `redis-benchmark -c N` (N connections, one command each). `--connections` is an alias
// of `--concurrency`.

import Reactor
import Redis
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

struct Options {
    var url = "redis://127.0.0.1:6379"
    var concurrency = 50
    var loops = 2
    var duration: Duration = .seconds(10)
    var warmup: Duration = .seconds(1)
    var valueSize = 100
}

func usage(_ message: String) -> Never {
    print("redis-bench: \(message)")
    print(
        "usage: redis-bench [--url URL] [--concurrency N] [--loops L] [--duration 10s] [--warmup 1s] [--value-size B]")
    exit(2)
}

func parseDuration(_ text: String) -> Duration? {
    if text.hasSuffix("ms"), let value = Int(text.dropLast(2)) { return .milliseconds(value) }
    if text.hasSuffix("s"), let value = Double(text.dropLast()) { return .milliseconds(Int(value * 1000)) }
    if let value = Double(text) { return .milliseconds(Int(value * 1000)) }
    return nil
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    while let flag = arguments.popFirst() {
        if flag == "--help" || flag == "-h" { usage("GET throughput of the Redis driver") }
        guard let value = arguments.popFirst() else { usage("\(flag) needs a value") }
        switch flag {
        case "--url": options.url = value
        case "--concurrency", "--connections", "-c":
            guard let n = Int(value), n > 0 else { usage("bad \(flag)") }
            options.concurrency = n
        case "--loops":
            guard let n = Int(value), n > 0 else { usage("bad \(flag)") }
            options.loops = n
        case "--duration":
            guard let d = parseDuration(value) else { usage("bad \(flag)") }
            options.duration = d
        case "--warmup":
            guard let d = parseDuration(value) else { usage("bad \(flag)") }
            options.warmup = d
        case "--value-size":
            guard let n = Int(value), n >= 0 else { usage("bad \(flag)") }
            options.valueSize = n
        default: usage("unknown option \(flag)")
        }
    }
    return options
}

let options = parseOptions()
let configuration: RedisConfiguration
do {
    configuration = try RedisConfiguration(url: options.url)
} catch {
    usage("\(error)")
}
let group = try EventLoopGroup(loopCount: options.loops)
let client = RedisClient(configuration: configuration, group: group)
guard await client.waitUntilConnected(timeout: .seconds(5)) else {
    print("redis-bench: cannot connect to \(configuration.host):\(configuration.port)")
    exit(1)
}
let key = "redis-bench:key"
try await client.set(key, [UInt8](repeating: UInt8(ascii: "x"), count: options.valueSize))

/// 0: warm-up, 1: measuring, 2: stop.
let phase = Atomic<Int>(0)

/// Runs `concurrency` GET loops spread over the loops; returns (GETs while measuring, errors).
func runLoad() async -> (count: Int, errors: Int) {
    await withTaskGroup(of: (Int, Int).self) { tasks in
        for index in 0..<options.concurrency {
            let connection = client.connections[index % client.connections.count]
            tasks.addTask(executorPreference: connection.loop) {
                var count = 0
                var errors = 0
                while true {
                    let current = phase.load(ordering: .relaxed)
                    if current == 2 { break }
                    do {
                        _ = try await connection.get(key)
                        if current == 1 { count += 1 }
                    } catch {
                        errors += 1
                    }
                }
                return (count, errors)
            }
        }
        var total = (count: 0, errors: 0)
        for await (count, errors) in tasks {
            total.count += count
            total.errors += errors
        }
        return total
    }
}

async let result = runLoad()
try await Task.sleep(for: options.warmup)
phase.store(1, ordering: .relaxed)
let start = ContinuousClock.now
try await Task.sleep(for: options.duration)
phase.store(2, ordering: .relaxed)
let elapsed = ContinuousClock.now - start
let (count, errors) = await result
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let rate = Double(count) / seconds
/// Two decimals without Foundation.
func fixed2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
print(
    "redis-bench: GET \(options.valueSize)-byte value, concurrency \(options.concurrency),",
    "\(options.loops) loops (1 connection each)")
print("requests: \(count) in \(fixed2(seconds)) s, errors: \(errors)")
print("GET: \(fixed2(rate)) requests per second")
client.close()
