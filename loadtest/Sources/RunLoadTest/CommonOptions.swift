import ArgumentParser
import HTTP
import LoadTestKit
import Reactor

/// Options both subcommands take.
struct CommonOptions: ParsableArguments {
    @Option(help: "Base URL of the gateway, e.g. http://127.0.0.1:8080.")
    var url: String

    @Option(help: "Event-loop threads to spread the connections over (default: the number of cores).")
    var loops: Int = EventLoopGroup.coreCount

    @Option(help: "Per-request timeout (connect, then the whole response), e.g. 5s (default: 5s for run; 30s for seed, whose sign-ups wait for password hashing).")
    var timeout: String?

    @Option(name: .customLong("header"), help: "Extra header for every request, 'Name: value' (repeatable), e.g. an Authorization bearer token.")
    var headers: [String] = []

    @Flag(help: "For https:// URLs: do not verify the server's certificate (self-signed test set-ups).")
    var insecure = false

    @Option(help: "For https:// URLs: a PEM file of certificates to trust (e.g. .data/certs/cert.pem).")
    var cacert: String?

    @Option(help: "Seed of the random streams (reproducible runs).")
    var seed: UInt64 = 0x5EED

    /// The target `url` names: HTTP/1.1 connections, or with `http2` the streams of one
    /// HTTP/2 connection per loop (h2c with prior knowledge, or TLS with ALPN `h2`).
    /// `defaultTimeout` applies when `--timeout` is not given.
    func target(http2: Bool = false, defaultTimeout: String = "5s") throws -> (TargetURL, any LoadTarget) {
        let url = try TargetURL(url)
        var extra = HTTPHeaders()
        for header in headers {
            guard let colon = header.firstIndex(of: ":") else {
                throw ValidationError("--header '\(header)' is not 'Name: value'")
            }
            let name = header[..<colon].trimmingCharacters(in: " ")
            let value = header[header.index(after: colon)...].trimmingCharacters(in: " ")
            extra.add(name: name, value: value)
        }
        let timeout = try DurationText.parse(timeout ?? defaultTimeout, option: "timeout")
        if http2 {
            let transport = url.isTLS ? try Transports.tlsForHTTP2(verify: !insecure, caFile: cacert) : Transports.plain
            return (url, HTTP2Target(url: url, transport: transport, timeout: timeout, extraHeaders: extra))
        }
        let transport = try Transports.forURL(url, tls: Transports.tls(verify: !insecure, caFile: cacert))
        let target = HTTP1Target(url: url, transport: transport, timeout: timeout, extraHeaders: extra)
        return (url, target)
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}
