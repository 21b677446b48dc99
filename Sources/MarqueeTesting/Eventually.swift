/// Waits for a condition instead of sleeping for a guessed time: polls `condition` every
/// `interval` until it holds or `timeout` has passed.
///
/// Tests use it for what happens "soon" (a pool reconnects, an outbox drains, a server comes
/// back), so that a loaded machine costs them time rather than a failure. The bound is an outer
/// limit, not a speed check: keep it generous and assert the cause separately.
/// An error thrown by `condition` counts as "not yet": a query to a server that is coming back
/// throws until it is back.
/// - Returns: whether `condition` held before the deadline (it is tried once more at the deadline).
public func eventually(
    timeout: Duration = .seconds(10), interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: interval)
    }
    return (try? await condition()) == true
}
