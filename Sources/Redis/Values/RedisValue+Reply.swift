import CHiredis

extension RedisValue {
    /// Copies a hiredis reply into Swift values. The reply is owned by hiredis and freed as
    /// soon as the callback returns, so nothing may point into it afterwards.
    ///
    /// - Parameter reply: a reply hiredis passed to a callback; valid only during the call.
    init(reply: UnsafePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .string(Self.copyBytes(r.str, r.len))
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: Self.copyBytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: Self.copyBytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            var values: [RedisValue] = []
            values.reserveCapacity(r.elements)
            if let elements = r.element {
                for index in 0..<r.elements {
                    // Each element is a reply of the same tree, valid for the same duration.
                    if let element = elements[index] {
                        values.append(RedisValue(reply: element))
                    } else {
                        values.append(.null)
                    }
                }
            }
            self = .array(values)
        default:  // REDIS_REPLY_NIL
            self = .null
        }
    }

    /// Copies `length` bytes from `pointer` (hiredis's `str`, not NUL-safe as a C string).
    private static func copyBytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        // The buffer is `length` bytes long (hiredis adds a NUL after it, which we do not copy).
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }
}
