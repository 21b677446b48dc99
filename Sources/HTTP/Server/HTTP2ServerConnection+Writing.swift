/// Writing: the machine's output goes to one writer task, which sends what collected during
/// a turn of the loop in one write, wakes handlers waiting for room, and ends the connection.
extension HTTP2ServerConnection {
    /// Hands the machine's output to the writer: it sends what collects in the machine's
    /// buffer (no copy into a buffer of its own). Output the machine makes after this side
    /// closed the connection is dropped, unless it is the machine's own ending (GOAWAY).
    func takeOutput() {
        guard !machine.output.isEmpty else { return }
        guard !isClosed || machine.isClosed else {
            _ = machine.takeOutput()
            return
        }
        if let waiter = writerWaiter {
            writerWaiter = nil
            waiter.resume()
        }
    }

    /// Sends output as it collects: everything the machine wrote during one turn of the
    /// loop goes out in one write.
    func writeLoop() async {
        while true {
            if machine.output.isEmpty {
                if isClosed { return }
                await withCheckedContinuation { writerWaiter = $0 }
                continue
            }
            var bytes = machine.takeOutput()
            stream.writeDeadline = loop.now &+ configuration.writeTimeout.nanoseconds
            do {
                try await stream.write(bytes[...])
                if machine.output.isEmpty && bytes.capacity <= Self.reusedOutputCapacity {
                    // The buffer goes back to the machine, so that the next output does not
                    // grow a new one from nothing (several reallocations per response).
                    bytes.removeAll(keepingCapacity: true)
                    machine.output = bytes
                }
            } catch {
                stream.writeDeadline = nil
                isClosed = true
                stream.close()
                wakeAll()
                return
            }
            stream.writeDeadline = nil
            lastActivity = loop.now
            let waiters = outputWaiters
            outputWaiters = []
            for waiter in waiters { waiter.resume() }
            if machine.isClosed && machine.output.isEmpty {
                // All said (GOAWAY last): end our side; the read loop lingers until the client closes.
                if let socket { socket.shutdownWrite() } else { await stream.closeGracefully() }
                wakeAll()
                return
            }
        }
    }

    /// Ends the connection: whatever is queued is still written (a GOAWAY), then the socket closes.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if let waiter = writerWaiter {
            writerWaiter = nil
            waiter.resume()
        }
        wakeAll()
        if machine.output.isEmpty { stream.close() }
    }

    func wakeAll() {
        for (_, exchange) in exchanges { exchange.abandon() }
        exchanges.removeAll()
        releaseIdleWorkers()
        let waiters = outputWaiters
        outputWaiters = []
        for waiter in waiters { waiter.resume() }
    }
}
