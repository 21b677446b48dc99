import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Delivers process signals (SIGTERM, SIGINT, SIGHUP) as an async sequence, through a
/// `signalfd` on an event loop, so that shutdown and certificate reloads are ordinary
/// async code rather than work inside a signal handler.
///
/// A signal read through signalfd must be blocked in every thread, and threads inherit
/// the mask of their creator: call ``block(_:)`` in `main` before creating the
/// ``EventLoopGroup`` or any other thread.
public enum SignalWatcher {
    /// Blocks `signals` for the calling thread and every thread it creates afterwards.
    public static func block(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// The signals in `signals` as they arrive; they must have been ``block(_:)``ed.
    public static func watch(_ signals: [Int32], on loop: EventLoop) -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        loop.execute {
            var set = sigset_t()
            sigemptyset(&set)
            for signal in signals { sigaddset(&set, signal) }
            let fd = signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC))
            guard fd >= 0 else {
                continuation.finish()
                return
            }
            do {
                _ = try loop.register0(fd: fd, interest: .read) { _ in
                    var info = signalfd_siginfo()
                    while Glibc.read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
                        == MemoryLayout<signalfd_siginfo>.size
                    {
                        continuation.yield(Int32(info.ssi_signo))
                    }
                }
            } catch {
                Glibc.close(fd)
                continuation.finish()
            }
        }
        return stream
    }
}
