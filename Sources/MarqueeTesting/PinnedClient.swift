import CLinux
import Reactor

#if canImport(Glibc)
import Glibc
#endif

/// A client on a thread of its own pinned to one CPU, with blocking calls: on loopback the
/// CPU a connection is made from handles its packets, which is what a server that accepts
/// connections by CPU (``TCPListener/steerByCPU(_:cpus:)``) looks at.
public enum PinnedClient {
    public struct CannotPin: Error, CustomStringConvertible {
        public let cpu: Int
        public var description: String { "cannot pin a thread to CPU \(cpu)" }
    }

    /// Runs `body` on a fresh thread pinned to `cpu`.
    public static func run<T: Sendable>(onCPU cpu: Int, _ body: @escaping @Sendable () -> T) async throws -> T {
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        return try await pool.run { () throws(CannotPin) -> T in
            guard CLinux_pin_thread(pthread_self(), Int32(cpu)) == 0 else { throw CannotPin(cpu: cpu) }
            return body()
        }
    }

    /// How long a blocking read or write on a ``connect(port:)`` socket may wait (then it fails
    /// with EAGAIN): a server that never answers fails the test instead of hanging it.
    public static let ioTimeoutSeconds = 30

    /// A blocking connection to 127.0.0.1:`port`, or -1. Call it from ``run(onCPU:_:)``.
    /// Reads and writes on it give up after ``ioTimeoutSeconds``.
    public static func connect(port: Int) -> Int32 {
        guard let address = SocketAddress(numericHost: "127.0.0.1", port: port) else { return -1 }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var bound = timeval(tv_sec: ioTimeoutSeconds, tv_usec: 0)
        let size = socklen_t(MemoryLayout<timeval>.size)
        guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, size) == 0,
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, size) == 0,
            address.withSockAddr({ Glibc.connect(fd, $0, $1) }) == 0
        else {
            if fd >= 0 { Glibc.close(fd) }
            return -1
        }
        return fd
    }
}
