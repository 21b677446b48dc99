extension StringProtocol {
    /// Calls `body` with the text's UTF-8 in one contiguous buffer: the string's own storage
    /// when it has one (native Swift strings always do), else a temporary copy. Byte-level
    /// HTTP work (header names, values, paths) goes through this rather than `UTF8View`'s
    /// index-by-index iteration, which costs an index step per byte on every request.
    @inlinable
    public func withContiguousUTF8<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if let result = try utf8.withContiguousStorageIfAvailable(body) { return result }
        return try Array(utf8).withUnsafeBufferPointer(body)
    }
}
