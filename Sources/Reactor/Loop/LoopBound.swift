/// A reference type whose state belongs to one event loop: it is touched only on that
/// loop's thread, and is `@unchecked Sendable` only so that it can reach that thread.
///
/// The rule: every entry point of a loop-bound type either
/// - runs on the loop and begins with ``assertOnLoop(file:line:)`` — its methods, the
///   properties a caller may set, and the loop-only functions (a `0` suffix) that other
///   types call; or
/// - is documented "any thread" and moves to the loop
///   (``EventLoop/executeNowOrSoon(_:)``) before it touches the state.
///
/// So a use from another thread, a data race that `@unchecked Sendable` hides from the
/// compiler, traps in debug builds and tests at the line that made it, and costs nothing in
/// release builds, where `assert` is compiled out. (swift-nio's `NIOLoopBound` checks its
/// event loop on every access of the value it wraps, in the same way.)
public protocol LoopBound: AnyObject {
    /// The loop whose thread alone may touch this value's state.
    var loop: EventLoop { get }
}

extension LoopBound {
    /// Traps in debug builds unless called on ``loop``'s thread; compiled out of release builds.
    @inlinable @inline(__always)
    public func assertOnLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(loop.inLoop, "\(Self.self) used off its event loop \(loop.index)", file: file, line: line)
    }
}
