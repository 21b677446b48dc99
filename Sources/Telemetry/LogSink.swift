import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where ``JSONLogHandler`` puts finished lines: standard output by default; tests capture them.
public struct LogSink: Sendable {
    /// Takes one whole line, valid during the call only.
    let write: @Sendable (UnsafeRawBufferPointer) -> Void

    public init(_ write: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) { self.write = write }

    /// One `write(2)` per line on `fd`, retried on EINTR and short writes.
    ///
    /// Why write(2) and no buffer: lines from several loop threads must not interleave, and
    /// a single write of a line shorter than PIPE_BUF to a pipe is atomic; a buffered stream
    /// would need a lock and could lose lines at a crash. A failed write (a closed stdout)
    /// drops the rest of the line: logging must never take the process down.
    public static func fileDescriptor(_ fd: Int32) -> LogSink {
        LogSink { buffer in
            // Scoped pointer: the line is valid for this synchronous write loop only.
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, base + offset, buffer.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    /// Lines on stdout (fd 1).
    public static let standardOutput = fileDescriptor(1)
}

/// Collects log lines in memory, for tests.
public final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    public var sink: LogSink {
        LogSink { [self] bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            lines.withLock { $0.append(text) }
        }
    }

    public var captured: [String] { lines.withLock { $0 } }
}
