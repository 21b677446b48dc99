#if canImport(Glibc)
import Glibc
#endif

/// Writing to stderr, with a line that rewrites itself when stderr is a terminal.
///
/// Straight `write(2)` calls: C's `stderr` is a global that strict concurrency refuses, and
/// unbuffered writes are what a progress line wants anyway.
enum Terminal {
    static let isTTY = isatty(2) == 1

    static func error(_ text: String) {
        write(text + "\n")
    }

    /// A progress line: overwritten in place on a terminal, one line per update otherwise.
    static func status(_ text: String) {
        write(isTTY ? "\r\u{1B}[2K" + text : text + "\n")
    }

    /// Ends a status line so that the next output starts on a fresh line.
    static func endStatus() {
        if isTTY { write("\n") }
    }

    private static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            // The bytes are valid for this closure; a short write is retried until done.
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
