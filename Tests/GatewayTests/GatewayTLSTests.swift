import Gateway
import HTTP
import MarqueeTesting
import Reactor
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// HTTPS on a test port with a self-signed certificate made by openssl, the plain-HTTP
/// modes, HSTS, and the SIGHUP reload (called directly).
@Suite(.serialized, .timeLimit(.minutes(10))) struct GatewayTLSTests {
    @Test func httpsProxiesWithHSTSAndReloads() async throws {
        let directory = try makeTemporaryDirectory()
        try await makeCertificate(in: directory, serial: "01")
        let movies = try await TestUpstream.start(name: "movies")
        let gateway = try await GatewayUnderTest.start(movies: [movies.url]) {
            $0.tlsCertificate = directory + "/cert.pem"
            $0.tlsKey = directory + "/key.pem"
            $0.hstsMaxAge = 31_536_000
        }
        #expect(gateway.server.httpsPort != nil)
        let response = try await gateway.send(.GET, "/api/movies/1", https: true)
        #expect(response.status == .ok)
        #expect(response.headers["strict-transport-security"] == "max-age=31536000")
        #expect(Echo(response.body).values("x-forwarded-proto") == ["https"])
        let own = try await gateway.send(.GET, "/nope", https: true)
        #expect(own.status == .notFound)
        #expect(own.headers["strict-transport-security"] == "max-age=31536000")
        // Plain HTTP serves by default and never sends HSTS.
        let plain = try await gateway.send(.GET, "/api/movies/1")
        #expect(plain.status == .ok)
        #expect(plain.headers["strict-transport-security"] == nil)

        // SIGHUP's work: a new certificate is loaded; the pooled HTTPS connection keeps working.
        try await makeCertificate(in: directory, serial: "02")
        let message = try await gateway.server.reloadCertificates()
        #expect(message.contains("serial 02") || message.contains("serial 2"), "\(message)")
        #expect(try await gateway.send(.GET, "/api/movies/2", https: true).status == .ok)
        // A broken file is refused and the old certificate stays.
        try "garbage".write(to: directory + "/cert.pem")
        await #expect(throws: (any Error).self) { try await gateway.server.reloadCertificates() }
        await gateway.stop()
        await movies.stop()
    }

    @Test func redirectAndHealthOnlyModes() async throws {
        let directory = try makeTemporaryDirectory()
        try await makeCertificate(in: directory, serial: "03")
        let movies = try await TestUpstream.start(name: "movies")
        let redirecting = try await GatewayUnderTest.start(movies: [movies.url]) {
            $0.tlsCertificate = directory + "/cert.pem"
            $0.tlsKey = directory + "/key.pem"
            $0.httpMode = .redirect
            $0.tlsPort = 0
        }
        let tlsPort = try #require(redirecting.server.httpsPort)
        let moved = try await redirecting.send(.GET, "/api/movies/1?x=2", headers: ["Host": "example.com:8080"])
        #expect(moved.status == .permanentRedirect)
        #expect(moved.headers["location"] == "https://example.com:\(tlsPort)/api/movies/1?x=2")
        #expect(moved.headers["x-request-id"] != nil)
        #expect(try await redirecting.send(.GET, "/health").status == .ok)
        await redirecting.stop()

        let healthOnly = try await GatewayUnderTest.start(movies: [movies.url]) {
            $0.tlsCertificate = directory + "/cert.pem"
            $0.tlsKey = directory + "/key.pem"
            $0.httpMode = .healthOnly
        }
        #expect(try await healthOnly.send(.GET, "/api/movies/1").status == .notFound)
        #expect(try await healthOnly.send(.GET, "/health").status == .ok)
        #expect(try await healthOnly.send(.GET, "/api/movies/1", https: true).status == .ok)
        await healthOnly.stop()
        await movies.stop()
    }
}

extension String {
    func write(to path: String) throws {
        guard let file = fopen(path, "w") else { throw TestFailure("cannot write \(path)") }
        defer { fclose(file) }
        _ = fputs(self, file)
    }
}

func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/marquee-gateway-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
    return String(cString: made)
}

/// A self-signed P-256 certificate for 127.0.0.1/localhost with the given serial (hex).
func makeCertificate(in directory: String, serial: String) async throws {
    let status = try await runTool(
        "/usr/bin/openssl",
        [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=gateway-test", "-set_serial", "0x\(serial)",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem",
        ])
    guard status == 0 else { throw TestFailure("openssl req exited with \(status) (is openssl installed?)") }
}

/// posix_spawn + waitpid on the blocking pool (never a loop); output discarded.
func runTool(_ executable: String, _ arguments: [String]) async throws -> Int32 {
    try await BlockingPool.shared.run { () throws -> Int32 in
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw TestFailure("cannot run \(executable): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw TestFailure("waitpid failed") }
        }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
