/// The life of one server connection, as a pure state machine: the I/O shell
/// (``HTTPServerConnection``) reports events and performs the actions it returns, so the
/// keep-alive, timeout and drain rules are tested without sockets.
struct HTTPConnectionStateMachine: Sendable {
    enum State: Sendable, Equatable {
        /// Between requests, no byte of the next one yet: the idle timeout applies, and a
        /// drain closes the connection at once.
        case idle
        /// Part of a head has arrived: the header-read timeout applies.
        case readingHead
        /// A request is being handled and answered.
        case responding(keepAlive: Bool)
        case closed
    }

    /// How a connection ends when its wait for a request ends (a read deadline, or the end
    /// of the input).
    enum EndAction: Sendable, Equatable {
        /// Close without a word: the client sent nothing (idle keep-alive connection), or
        /// it closed.
        case close
        /// Answer 408 and close. Either the client started a request and stalled
        /// (slowloris), or the server is draining and ends a connection on which it has read
        /// nothing of a next request: the 408 tells a client whose request crossed the close
        /// that it was never read, so it may send it again, whatever its method (RFC 9110
        /// §15.5.9), where a bare close could not be told from a server that died after
        /// reading it.
        case sendRequestTimeoutAndClose
    }

    enum ResponseAction: Sendable, Equatable {
        case readNextRequest
        case close
    }

    private(set) var state: State = .idle
    private(set) var isDraining = false

    /// Bytes of a new request arrived while idle.
    mutating func bytesReceived() {
        if state == .idle { state = .readingHead }
    }

    /// A complete head was parsed. Returns whether the connection may be kept alive after
    /// the response: the request allows it (HTTP/1.1 without `Connection: close`, or 1.0
    /// with `keep-alive`) and the server is not draining.
    mutating func headReceived(requestKeepAlive: Bool) -> Bool {
        precondition(state == .idle || state == .readingHead, "Invalid state: \(state)")
        let keepAlive = requestKeepAlive && !isDraining
        state = .responding(keepAlive: keepAlive)
        return keepAlive
    }

    /// The handler's response says `Connection: close` or its body could not be delimited.
    mutating func responseForcesClose() {
        if case .responding = state { state = .responding(keepAlive: false) }
    }

    /// The response was written. `bodyFullyRead` is false when the handler left part of
    /// the request body unread and it could not be skipped.
    mutating func responseSent(bodyFullyRead: Bool, moreBytesBuffered: Bool) -> ResponseAction {
        guard case .responding(let keepAlive) = state else { preconditionFailure("Invalid state: \(state)") }
        if !keepAlive || !bodyFullyRead || isDraining {
            state = .closed
            return .close
        }
        state = moreBytesBuffered ? .readingHead : .idle
        return .readNextRequest
    }

    /// A read deadline passed.
    mutating func timedOut() -> EndAction {
        let silent = state == .idle && !isDraining
        state = .closed
        return silent ? .close : .sendRequestTimeoutAndClose
    }

    /// The input ended while waiting for a request: the client closed, or the drain ended
    /// the wait of an idle connection (``drainRequested()``).
    mutating func inputEnded() -> EndAction {
        let drainedWhileIdle = state == .idle && isDraining
        state = .closed
        return drainedWhileIdle ? .sendRequestTimeoutAndClose : .close
    }

    /// The server began a graceful shutdown. Returns true when the connection is idle: its
    /// wait for a request should end now (it stays idle, so that a request already on its
    /// way is still read and answered, as the last; if none is there, the connection ends
    /// with a 408, see ``inputEnded()``); otherwise the current request finishes first and
    /// the connection closes after its response.
    mutating func drainRequested() -> Bool {
        isDraining = true
        return state == .idle
    }

    /// The peer closed, an error occurred, or the request was malformed.
    mutating func closed() { state = .closed }
}
