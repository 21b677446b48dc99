/// The head of a request: request line and header fields.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: HTTPMethod
    /// The request target exactly as received: origin-form (`/a?b`), absolute-form
    /// (`http://h/a`), authority-form (`h:443`, CONNECT) or asterisk-form (`*`, OPTIONS).
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders

    public init(method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:]) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// The path of the target without its query; for absolute-form the path after the
    /// authority (`/` when empty), so that routing does not care how a proxy-style client
    /// wrote the target. Authority- and asterisk-form return the target itself.
    public var path: Substring { Self.path(of: target) }

    /// The query after the first `?`, without the `?`, or `nil` when there is none.
    public var query: String? { Self.query(of: target) }

    /// ``path`` of a request target (for a caller that holds the target, not the head).
    public static func path(of target: String) -> Substring {
        // The usual target, origin-form without a query, is its own path: one look at its
        // bytes instead of index arithmetic on substrings (routing asks for every request).
        let isPlainPath = target.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.first == UInt8(ascii: "/") && !bytes.contains(UInt8(ascii: "?"))
        }
        if isPlainPath == true { return target[...] }
        let pathPart = pathAndQuery(of: target)
        if let question = questionMark(in: pathPart) {
            return pathPart[..<question]
        }
        return pathPart
    }

    /// ``query`` of a request target.
    public static func query(of target: String) -> String? {
        let pathPart = pathAndQuery(of: target)
        guard let question = questionMark(in: pathPart) else { return nil }
        return String(pathPart[pathPart.utf8.index(after: question)...])
    }

    /// The index of the first `?`, found over contiguous bytes (routing asks for every request).
    private static func questionMark(in text: Substring) -> String.Index? {
        let utf8 = text.utf8
        let offset = text.withContiguousUTF8 { $0.firstIndex(of: UInt8(ascii: "?")) }
        return offset.map { utf8.index(utf8.startIndex, offsetBy: $0) }
    }

    /// The origin-form part of the target (`/p?q`), stripped of `scheme://authority` if present.
    private static func pathAndQuery(of target: String) -> Substring {
        let all = target[...]
        guard let first = target.utf8.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*"),
            let schemeEnd = target.utf8.firstIndex(of: UInt8(ascii: ":")),
            target.utf8[schemeEnd...].starts(with: "://".utf8)
        else { return all }
        let authorityStart = target.utf8.index(schemeEnd, offsetBy: 3)
        let rest = target[authorityStart...]
        if let slash = rest.utf8.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) {
            let tail = target[slash...]
            return tail.utf8.first == UInt8(ascii: "?") ? "/" + tail : tail
        }
        return "/"
    }

    /// Whether the connection stays open after this request: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive` (RFC 9112 §9.3).
    @inline(__always)  // once per request, in the server's request loop
    public var keepAlive: Bool {
        HTTPRequestHead.keepAlive(version: version, headers: headers)
    }

    /// Whether the client waits for `100 Continue` before sending the body (RFC 9110 §10.1.1);
    /// HTTP/1.0 clients cannot, so their `Expect` is ignored. The value is compared as bytes.
    @inline(__always)  // once per request, in the server's request loop
    public var expectsContinue: Bool {
        guard version >= .http1_1 else { return false }
        var expects = false
        headers.readFirstValue(.expect) { value in
            if let value { expects = HTTPASCII.equalsIgnoringCase(value, lowercase: "100-continue") }
        }
        return expects
    }

    /// The keep-alive rule shared by requests and responses.
    static func keepAlive(version: HTTPVersion, headers: HTTPHeaders) -> Bool {
        if version >= .http1_1 { return !headers.connectionContains("close") }
        return !headers.connectionContains("close") && headers.connectionContains("keep-alive")
    }
}
