import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Delivers process signals (SIGTERM, SIGINT, SIGHUP) as an async sequence, so that
/// shutdown and certificate reloads are ordinary async code rather than work inside a
/// signal handler.
///
/// A process-wide handler (installed with `sigaction`) writes each signal's number to a
/// pipe that the loop reads: the self-pipe trick. Unlike a signalfd, it works whichever
/// thread the kernel picks, so it does not depend on every thread's signal mask — Swift's
/// async `main` runs on a thread we do not create, and a signalfd would miss signals
/// delivered there.
public enum SignalWatcher {
    /// Blocks `signals` for the calling thread and the threads it creates afterwards.
    ///
    /// Optional: call it in `main` before creating the ``EventLoopGroup`` so that the loop
    /// threads never run the handler (``watch(_:on:)`` unblocks them on its own loop).
    public static func block(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// The signals in `signals` as they arrive. Call once per signal per process.
    public static func watch(_ signals: [Int32], on loop: EventLoop) -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        loop.execute {
            var fds: [Int32] = [-1, -1]
            // pipe2 is a GNU extension Swift's Glibc does not show: pipe, then non-blocking.
            guard pipe(&fds) == 0, CLinux_set_nonblocking(fds[0]) == 0, CLinux_set_nonblocking(fds[1]) == 0 else {
                continuation.finish()
                return
            }
            let (readFD, writeFD) = (fds[0], fds[1])
            do {
                _ = try loop.register0(fd: readFD, interest: .read) { _ in
                    var bytes = [UInt8](repeating: 0, count: 64)
                    while true {
                        let count = bytes.withUnsafeMutableBytes { Glibc.read(readFD, $0.baseAddress, $0.count) }
                        if count <= 0 { break }
                        for byte in bytes[0..<count] { continuation.yield(Int32(byte)) }
                    }
                }
            } catch {
                Glibc.close(readFD)
                Glibc.close(writeFD)
                continuation.finish()
                return
            }
            var set = sigset_t()
            sigemptyset(&set)
            for signal in signals {
                _ = CLinux_forward_signal(signal, writeFD)
                sigaddset(&set, signal)
            }
            // This loop's thread may take the signals even if its creator blocked them.
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
        }
        return stream
    }
}
