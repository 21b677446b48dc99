/// Size limits a parser enforces before it buffers or allocates anything.
///
/// They also bound what a caller must buffer: a head is decided (complete or refused) within
/// `maxRequestLineLength + maxHeaderBytes` bytes, and body bytes are handed out as they come.
public struct HTTPParserLimits: Sendable, Hashable {
    /// Longest request line (or status line) without its CRLF; longer → 414.
    public var maxRequestLineLength: Int = 8192
    /// Largest header section (field lines and the final empty line); larger → 431.
    /// Also the limit of a chunked body's trailer section.
    public var maxHeaderBytes: Int = 32768
    /// Most field lines in a head or a trailer section; more → 431.
    public var maxHeaderCount: Int = 100
    /// Largest body in bytes, or `nil` for no limit; larger → 413 (for Content-Length, before
    /// any body byte is read).
    public var maxBodySize: Int? = 1 << 20
    /// Longest chunk-size line, extensions included: extensions are ignored, so there is no
    /// reason to buffer many of them.
    public var maxChunkLineLength: Int = 4096

    public init() {}

    public init(
        maxRequestLineLength: Int = 8192, maxHeaderBytes: Int = 32768, maxHeaderCount: Int = 100,
        maxBodySize: Int? = 1 << 20, maxChunkLineLength: Int = 4096
    ) {
        self.maxRequestLineLength = maxRequestLineLength
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodySize = maxBodySize
        self.maxChunkLineLength = maxChunkLineLength
    }
}
