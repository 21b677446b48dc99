import Reactor
import Synchronization

/// One event-loop group shared by every test of a test process (two loops, like the
/// machines we deploy on), created on first use and never shut down.
public enum EventLoopGroupHolder {
    private static let group = Mutex<EventLoopGroup?>(nil)

    public static func shared() throws -> EventLoopGroup {
        try group.withLock { existing in
            if let existing { return existing }
            let created = try EventLoopGroup(loopCount: 2)
            existing = created
            return created
        }
    }
}
