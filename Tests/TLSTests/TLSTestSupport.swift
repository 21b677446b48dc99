import Foundation
import MarqueeTesting
import Reactor
import Synchronization
import TLS

#if canImport(Glibc)
import Glibc
#endif

/// One loop group and one blocking pool for every TLS suite.
enum TLSTestEnvironment {
    static let group = try! EventLoopGroup(loopCount: 2)
    /// For the command-line tools (openssl, curl): waitpid blocks a thread, never a loop
    /// and never the cooperative pool.
    static let tools = BlockingPool(threadCount: 4)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A throw-away certificate and key in a temporary directory.
struct TestCertificate: Sendable {
    let certificatePath: String
    let keyPath: String
    let commonName: String
    /// Serial number in upper-case hexadecimal, as OpenSSL prints it.
    let serial: String

    /// Makes a self-signed certificate for `commonName`, valid for 127.0.0.1 and localhost.
    /// - Parameter rsa: an RSA-2048 key instead of P-256 (so both key types are exercised).
    static func make(commonName: String, serial: String, rsa: Bool = false) async throws -> TestCertificate {
        let directory = NSTemporaryDirectory() + "marquee-tls-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = TestCertificate(
            certificatePath: directory + "/cert.pem", keyPath: directory + "/key.pem", commonName: commonName,
            serial: serial)
        let key = rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        let result = try await Tool.run(
            Tool.openssl,
            ["req", "-x509"] + key + [
                "-nodes", "-days", "2", "-subj", "/CN=\(commonName)", "-set_serial", "0x\(serial)",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout", certificate.keyPath, "-out", certificate.certificatePath,
            ])
        guard result.status == 0 else { throw TestFailure("openssl req failed: \(result.output)") }
        return certificate
    }

    /// Copies this pair over `other`'s paths (certificate first, like a careless deploy).
    func install(certificateAt certificatePath: String, keyAt keyPath: String?) throws {
        try Self.replace(certificatePath, with: self.certificatePath)
        if let keyPath { try Self.replace(keyPath, with: self.keyPath) }
    }

    private static func replace(_ destination: String, with source: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        try data.write(to: URL(fileURLWithPath: destination), options: .atomic)
    }
}

/// Runs command-line tools to completion.
enum Tool {
    static var openssl: String { get throws { try find("/usr/bin/openssl", package: "openssl") } }
    static var curl: String { get throws { try find("/usr/bin/curl", package: "curl") } }

    private static func find(_ path: String, package: String) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("\(path) not found: install the Debian package \(package)")
        }
        return path
    }

    /// Runs `executable arguments...` with stdin from `input` (or /dev/null), on the
    /// tools pool (``ChildProcess`` waits on the calling thread); returns the exit status
    /// (128+n for signal n) and stdout+stderr.
    static func run(_ executable: String, _ arguments: [String], input: String? = nil) async throws
        -> (status: Int32, output: String)
    {
        try await TLSTestEnvironment.tools.run { () throws -> (status: Int32, output: String) in
            let inputPath = NSTemporaryDirectory() + "marquee-tls-run-\(getpid())-\(UUID().uuidString).in"
            try (input ?? "").write(toFile: inputPath, atomically: false, encoding: .utf8)
            defer { unlink(inputPath) }
            return try ChildProcess.run(executable, arguments, stdinPath: inputPath)
        }
    }
}

/// A TLS server on one loop for tests: accepts, shakes hands with the store's current
/// certificate, and gives each stream to `handler`. Handshake failures are recorded.
final class TestTLSServer: Sendable {
    let loop: EventLoop
    let listener: TCPListener
    let store: TLSCertificateStore
    private let failures = Mutex<[TLSError]>([])
    private let handshakes = Mutex(0)

    var port: Int { listener.localAddress.port }
    var handshakeFailures: [TLSError] { failures.withLock { $0 } }
    var completedHandshakes: Int { handshakes.withLock { $0 } }

    init(
        store: TLSCertificateStore, handshakeTimeout: Duration = .seconds(5),
        loop: EventLoop = TLSTestEnvironment.group.loops[0],
        handler: @escaping @Sendable (TLSStream) async -> Void
    ) async throws {
        self.loop = loop
        self.store = store
        listener = try await Task(executorPreference: loop) {
            try TCPListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop)
        }.value
        Task(executorPreference: loop) { [self] in
            while let socket = try? await listener.accept() {
                Task(executorPreference: loop) { [self] in
                    do {
                        let stream = try await TLSStream.accept(
                            socket: socket, store: store, handshakeTimeout: handshakeTimeout)
                        handshakes.withLock { $0 += 1 }
                        await handler(stream)
                    } catch let error as TLSError {
                        failures.withLock { $0.append(error) }
                    } catch {
                        failures.withLock { $0.append(TLSError(.handshakeFailed, operation: "test", underlying: error)) }
                    }
                }
            }
        }
    }

    func close() async {
        await Task(executorPreference: loop) { [listener] in listener.close() }.value
    }

    /// Echoes every byte until end of stream.
    static let echo: @Sendable (TLSStream) async -> Void = { stream in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { buffer.deallocate() }
        while let count = try? await stream.read(into: buffer), count > 0 {
            do { try await stream.write(Array(buffer[0..<count])) } catch { break }
        }
        await stream.closeGracefully()
    }

    /// Reads one HTTP request head, answers a fixed 200, closes with close_notify.
    static let hello: @Sendable (TLSStream) async -> Void = { stream in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        var request: [UInt8] = []
        while !request.ends(with: Array("\r\n\r\n".utf8)) {
            guard let count = try? await stream.read(into: buffer), count > 0 else {
                stream.close()
                return
            }
            request.append(contentsOf: buffer[0..<count])
        }
        let body = "hello over \(stream.negotiatedProtocolVersion?.description ?? "?")\n"
        let response =
            "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nContent-Type: text/plain\r\n"
            + "Connection: close\r\n\r\n\(body)"
        try? await stream.write(Array(response.utf8))
        await stream.closeGracefully()
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}

/// Client-side helpers, run on loops[1].
enum TestClient {
    static var loop: EventLoop { TLSTestEnvironment.group.loops[1] }

    static func tcp(port: Int, on loop: EventLoop = loop) async throws -> TCPSocket {
        try await TCPSocket.connect(
            to: SocketAddress(numericHost: "127.0.0.1", port: port)!, on: loop, timeout: .seconds(2))
    }

    /// Writes `payload` while reading back as many bytes; returns what came back.
    static func echo(_ payload: [UInt8], over stream: TLSStream) async throws -> [UInt8] {
        async let sent: Void = stream.write(payload)
        var received: [UInt8] = []
        received.reserveCapacity(payload.count)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { buffer.deallocate() }
        while received.count < payload.count {
            let count = try await stream.read(into: buffer)
            if count == 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        try await sent
        return received
    }

    static func payload(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }
}
