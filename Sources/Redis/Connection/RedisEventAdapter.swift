import CHiredis
import Reactor

/// Plugs one hiredis async context into one event loop's epoll, shaped like hiredis's
/// `adapters/ae.h`: hiredis calls `addRead`/`delRead`/`addWrite`/`delWrite` (idempotent,
/// guarded by ``reading``/``writing``) and `cleanup` once, when the context is being freed.
///
/// Interest is level-triggered: `redisAsyncHandleRead` reads once per call, so the loop must
/// keep reporting a readable socket until hiredis has drained it.
///
/// Loop-only: hiredis calls the hooks on the loop thread, from our own calls into it.
final class RedisEventAdapter {
    let loop: EventLoop
    let context: UnsafeMutablePointer<redisAsyncContext>
    private var registration: IORegistration?
    private var reading = false
    private var writing = false
    /// A flush job is queued on the loop (see ``setWriting(_:)``).
    private var flushScheduled = false
    /// False once hiredis has run `cleanup`: the context is being (or has been) freed.
    private(set) var isAttached = true
    /// Told when hiredis cleans up, before it closes the descriptor.
    private let onCleanup: () -> Void

    private init(loop: EventLoop, context: UnsafeMutablePointer<redisAsyncContext>, onCleanup: @escaping () -> Void) {
        self.loop = loop
        self.context = context
        self.onCleanup = onCleanup
    }

    /// Registers the context's descriptor with `loop` and installs the hooks.
    ///
    /// Must run before `redisAsyncSetConnectCallback`, which asks for the first write event
    /// (the moment a non-blocking connect completes). Loop-only.
    /// - Throws: `IOError` when epoll refuses the descriptor; the hooks are then not installed.
    static func attach(
        to context: UnsafeMutablePointer<redisAsyncContext>, loop: EventLoop, onCleanup: @escaping () -> Void
    ) throws(IOError) -> RedisEventAdapter {
        loop.preconditionInLoop()
        let adapter = RedisEventAdapter(loop: loop, context: context, onCleanup: onCleanup)
        // No interest yet: hiredis asks for what it needs through the hooks.
        adapter.registration = try loop.register0(fd: context.pointee.c.fd, interest: []) { [adapter] readiness in
            adapter.handle(readiness)
        }
        // ev.data holds one retain of the adapter, given back in `cleanup` (hiredis never calls
        // a hook after it). The hooks are C function pointers: no captures, the adapter comes
        // back through `data`.
        context.pointee.ev.data = Unmanaged.passRetained(adapter).toOpaque()
        context.pointee.ev.addRead = { data in RedisEventAdapter.from(data)?.setReading(true) }
        context.pointee.ev.delRead = { data in RedisEventAdapter.from(data)?.setReading(false) }
        context.pointee.ev.addWrite = { data in RedisEventAdapter.from(data)?.setWriting(true) }
        context.pointee.ev.delWrite = { data in RedisEventAdapter.from(data)?.setWriting(false) }
        context.pointee.ev.cleanup = { data in
            guard let data else { return }
            // Takes back the retain from `attach`; `adapter` keeps it alive to the end of this call.
            let adapter = Unmanaged<RedisEventAdapter>.fromOpaque(data).takeRetainedValue()
            adapter.cleanup()
        }
        return adapter
    }

    /// The adapter behind `ev.data`, unretained: valid while hiredis may call hooks (until cleanup).
    private static func from(_ data: UnsafeMutableRawPointer?) -> RedisEventAdapter? {
        guard let data else { return nil }
        return Unmanaged<RedisEventAdapter>.fromOpaque(data).takeUnretainedValue()
    }

    private func setReading(_ value: Bool) {
        guard reading != value else { return }
        reading = value
        updateInterest()
    }

    /// Unlike ae.h, a connected context does not wait for epoll to report the socket
    /// writable (it nearly always is): a job at the end of the loop's current round of jobs
    /// writes everything the round's tasks sent in one `write`, and epoll is asked only
    /// when that write leaves data behind. Per batch of commands this saves two `epoll_ctl`
    /// and one `epoll_wait`; on loopback, syscalls are most of the cost.
    private func setWriting(_ value: Bool) {
        guard writing != value else { return }
        writing = value
        if value, context.pointee.c.flags & REDIS_CONNECTED != 0 {
            if !flushScheduled {
                flushScheduled = true
                loop.execute0 { [self] in flush() }
            }
        } else {
            updateInterest()
        }
    }

    private func flush() {
        flushScheduled = false
        guard isAttached, writing else { return }
        redisAsyncHandleWrite(context)
        // The write may have freed the context (an error); else, if data is left (socket
        // buffer full), wait for epoll to report room.
        if isAttached { updateInterest() }
    }

    private func updateInterest() {
        guard let registration else { return }
        var interest: IOInterest = []
        if reading { interest.insert(.read) }
        if writing { interest.insert(.write) }
        do {
            try loop.reregister0(registration, interest: interest)
        } catch {
            // EPOLL_CTL_MOD on a registered descriptor fails only on our own bug.
            preconditionFailure("epoll_ctl(MOD) for the Redis socket failed: \(error)")
        }
    }

    private func handle(_ readiness: IOReadiness) {
        guard isAttached else { return }
        // Readable includes hang-up and error: hiredis then reads EOF (or sees the failed
        // connect) and disconnects, which frees the context and runs `cleanup`.
        if readiness.isReadable {
            redisAsyncHandleRead(context)
        }
        // HandleRead may have freed the context: never touch it after `cleanup`.
        guard isAttached, writing, readiness.isWritable else { return }
        redisAsyncHandleWrite(context)
    }

    private func cleanup() {
        isAttached = false
        reading = false
        writing = false
        // Deregister before hiredis closes the descriptor (right after this hook returns).
        if let registration { loop.deregister0(registration) }
        registration = nil
        onCleanup()
    }
}
