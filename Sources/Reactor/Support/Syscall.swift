import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// The outcome of a non-blocking system call.
public enum SyscallResult<T> {
    /// The call did its work and returned this value.
    case processed(T)
    /// The call would have blocked (EAGAIN/EWOULDBLOCK); wait for readiness and retry.
    case wouldBlock
}

/// Runs a system call that returns -1 and sets `errno` on failure.
///
/// Retries on `EINTR`; maps `EAGAIN` to ``SyscallResult/wouldBlock`` when `blocking` is
/// false; traps on `EBADF` and `EFAULT`, which only our own bugs can cause (a closed or
/// foreign descriptor, a bad pointer) and which would otherwise corrupt another
/// connection's state; throws ``IOError`` for everything else.
@inline(__always)
public func syscall<T: FixedWidthInteger>(
    blocking: Bool, _ name: @autoclosure () -> String, _ body: () -> T
) throws(IOError) -> SyscallResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .processed(result) }
        let err = CLinux_errno()
        switch err {
        case EINTR:
            continue
        case EAGAIN where !blocking:
            return .wouldBlock
        case EBADF, EFAULT:
            preconditionFailure("\(name()) failed with errno \(err): a bug in Marquee's descriptor handling")
        default:
            throw IOError.system(name(), errno: err)
        }
    }
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC), the clock of every deadline.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to zero for negative durations.
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}
