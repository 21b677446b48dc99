// bench-server: the smallest useful HTTP server on Marquee's runtime, for the benchmark
// against nginx's `return 200` (loadtest/bench-runtime.sh). Routes: GET /plaintext, GET /json.
import HTTP
import Reactor

#if canImport(Glibc)
import Glibc
#endif

func argument(_ name: String, default value: Int) -> Int {
    let arguments = CommandLine.arguments
    if let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) {
        return parsed
    }
    return value
}

let port = argument("--port", default: 8090)
let loops = argument("--loops", default: EventLoopGroup.coreCount)
// --affinity off: loops float and connections are spread by hash (for A/B runs).
var affinity = LoopAffinity.automatic
if let index = CommandLine.arguments.firstIndex(of: "--affinity") {
    let value = index + 1 < CommandLine.arguments.count ? CommandLine.arguments[index + 1] : ""
    guard let parsed = LoopAffinity(setting: value) else {
        let message = "bench-server: --affinity must be auto or off\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        exit(2)
    }
    affinity = parsed
}
SignalWatcher.block([SIGTERM, SIGINT])
let group = try EventLoopGroup(loopCount: loops, affinity: affinity)

var router = Router()
// Static answers are built once, as a handler author would: a request then costs the
// server's own work only (nginx's `return 200` is static too).
let plaintext = HTTPServerResponse(
    status: .ok, headers: ["Content-Type": "text/plain"], body: .bytes(Array("Hello, World!".utf8)))
let json = HTTPServerResponse.json(.ok, Array(#"{"message":"Hello, World!"}"#.utf8))
router.get("/plaintext") { _ in plaintext }
router.get("/json") { _ in json }
// A movie-shaped answer of the movie service's size, for proxy benchmarks (bench-gateway.sh).
router.get("/api/movies/{id:int}") { request in
    let id = try request.parameters.int("id")
    let body = #"{"id":\#(id),"title":"Inception","director":"Christopher Nolan","year":2010,"genre":"Sci-Fi","rating":8.8,"created_at":"2026-11-25T16:22:47Z","updated_at":"2026-11-25T16:22:47Z"}"#
    return .json(.ok, Array(body.utf8), headers: ["X-Cache": "HIT"])
}

var configuration = HTTPServerConfiguration(port: port)
// --max-connections: past the default 10,000 (loadtest/bench-idle.sh holds more).
configuration.maxConnections = argument("--max-connections", default: configuration.maxConnections)
let server = HTTPServer(configuration: configuration, group: group, responder: router)
try await server.start()
// write(2), not print: stdout is a pipe when a script starts us, and must not sit in a buffer.
let steering = server.steersConnectionsByCPU ? "pinned, connections steered by CPU" : "floating, connections spread by hash"
let banner = "bench-server listening on 127.0.0.1:\(server.localPort) with \(loops) loops (\(steering))\n"
_ = banner.withCString { write(1, $0, strlen($0)) }
let signals = SignalWatcher.watch([SIGTERM, SIGINT], on: group.loops[0])
Task {
    for await _ in signals {
        server.shutdown()
        break
    }
}
await server.run()
group.shutdown()
