import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 socket address.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    private enum Storage: Hashable, Sendable {
        case v4(host: UInt32, port: UInt16)  // both in network byte order
        case v6(host: [UInt8], port: UInt16, scopeID: UInt32)
    }
    private let storage: Storage

    /// Parses a numeric IPv4 or IPv6 address ("127.0.0.1", "::1"); nil for anything else.
    public init?(numericHost host: String, port: Int) {
        guard (0...65535).contains(port) else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            storage = .v4(host: v4.s_addr, port: UInt16(port).bigEndian)
            return
        }
        var v6 = in6_addr()
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            storage = .v6(host: bytes, port: UInt16(port).bigEndian, scopeID: 0)
            return
        }
        return nil
    }

    /// Reads a `sockaddr` filled in by the kernel (accept, getsockname).
    init?(_ raw: UnsafePointer<sockaddr>) {
        switch Int32(raw.pointee.sa_family) {
        case AF_INET:
            let sin = UnsafeRawPointer(raw).load(as: sockaddr_in.self)
            storage = .v4(host: sin.sin_addr.s_addr, port: sin.sin_port)
        case AF_INET6:
            var sin6 = UnsafeRawPointer(raw).load(as: sockaddr_in6.self)
            let bytes = withUnsafeBytes(of: &sin6.sin6_addr) { Array($0) }
            storage = .v6(host: bytes, port: sin6.sin6_port, scopeID: sin6.sin6_scope_id)
        default:
            return nil
        }
    }

    public var family: Int32 {
        switch storage {
        case .v4: AF_INET
        case .v6: AF_INET6
        }
    }

    public var port: Int {
        switch storage {
        case .v4(_, let port), .v6(_, let port, _): Int(UInt16(bigEndian: port))
        }
    }

    /// The host part as text ("127.0.0.1", "::1").
    ///
    /// IPv4 is formatted here rather than by `inet_ntop`, which goes through `sprintf`: the
    /// client address goes into every forwarded request.
    public var host: String {
        switch storage {
        case .v4(let host, _):
            return String(unsafeUninitializedCapacity: 15) { buffer in
                var count = 0
                // `host` is in network byte order: its first byte in memory is the first octet.
                for shift in stride(from: 0, to: 32, by: 8) {
                    if shift > 0 {
                        buffer[count] = UInt8(ascii: ".")
                        count += 1
                    }
                    let octet = UInt8(truncatingIfNeeded: UInt32(littleEndian: host) >> UInt32(shift))
                    if octet >= 100 {
                        buffer[count] = UInt8(ascii: "0") + octet / 100
                        count += 1
                    }
                    if octet >= 10 {
                        buffer[count] = UInt8(ascii: "0") + octet / 10 % 10
                        count += 1
                    }
                    buffer[count] = UInt8(ascii: "0") + octet % 10
                    count += 1
                }
                return count
            }
        case .v6(let host, _, _):
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            _ = host.withUnsafeBytes { bytes in inet_ntop(AF_INET6, bytes.baseAddress, &buffer, socklen_t(buffer.count)) }
            return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    public var description: String {
        family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Calls `body` with a pointer to the C `sockaddr` and its length, valid only inside `body`.
    public func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        switch storage {
        case .v4(let host, let port):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port
            sin.sin_addr = in_addr(s_addr: host)
            return try withUnsafePointer(to: &sin) { pointer in
                // sockaddr_in is layout-compatible with sockaddr's prefix, as the C API expects.
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6(let host, let port, let scopeID):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port
            sin6.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: host) }
            return try withUnsafePointer(to: &sin6) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }

    /// Resolves `host` (a name or a numeric address) to its addresses, IPv4 first.
    ///
    /// Numeric hosts resolve at once; names go through `getaddrinfo` on the blocking pool,
    /// because it may block on DNS and must never run on an event loop.
    public static func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        if let numeric = SocketAddress(numericHost: host, port: port) { return [numeric] }
        if host == "localhost", let loopback = SocketAddress(numericHost: "127.0.0.1", port: port) {
            return [loopback]
        }
        return try await BlockingPool.shared.run { () throws(IOError) -> [SocketAddress] in
            try resolveBlocking(host: host, port: port)
        }
    }

    /// Resolves `host` with `getaddrinfo` on the calling thread, which it may block (DNS):
    /// for the blocking pool only, never an event loop. IPv4 addresses first.
    public static func resolveBlocking(host: String, port: Int) throws(IOError) -> [SocketAddress] {
        if let numeric = SocketAddress(numericHost: host, port: port) { return [numeric] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw IOError(.addressResolution, operation: "getaddrinfo(\(host))", errno: rc)
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let raw = info.pointee.ai_addr, let address = SocketAddress(raw) { addresses.append(address) }
            cursor = info.pointee.ai_next
        }
        return addresses.sorted { $0.family == AF_INET && $1.family != AF_INET }
    }
}
