/// Writing: the machine's output goes to one writer task, which sends what collected during
/// a turn of the loop in one write, wakes handlers waiting for room, and ends the connection.
extension HTTP2ServerConnection {
    /// Moves the machine's output to the writer.
    func takeOutput() {
        let bytes = machine.takeOutput()
        guard !bytes.isEmpty, !isClosed || machine.isClosed else { return }
        pendingOutput.append(contentsOf: bytes)
        if let waiter = writerWaiter {
            writerWaiter = nil
            waiter.resume()
        }
    }

    /// Sends output as it collects: everything the machine wrote during one turn of the
    /// loop goes out in one write.
    func writeLoop() async {
        while true {
            if pendingOutput.isEmpty {
                if isClosed { return }
                await withCheckedContinuation { writerWaiter = $0 }
                continue
            }
            let bytes = pendingOutput
            pendingOutput = []
            stream.writeDeadline = loop.now &+ configuration.writeTimeout.nanoseconds
            do {
                try await stream.write(bytes[...])
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
            if machine.isClosed && pendingOutput.isEmpty {
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
        if pendingOutput.isEmpty { stream.close() }
    }

    func wakeAll() {
        for exchange in exchanges.values { exchange.abandon() }
        exchanges = [:]
        let waiters = outputWaiters
        outputWaiters = []
        for waiter in waiters { waiter.resume() }
    }
}
