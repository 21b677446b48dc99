import HTTP
import Instrumentation
import Logging
import Telemetry

/// What ServiceKit knows about the request being handled: its id, this service's span of
/// its trace and, once the router matched, its route pattern. Reachable from handlers
/// through ``current`` (to pass the id and the trace on to other services) and filled in by
/// ``ServiceRouter``'s wrappers.
///
/// A class bound in a task-local for the request's task: only that task touches it.
public final class RequestContext: @unchecked Sendable {
    public let requestID: String
    /// The request's trace as the process's instrument extracted it.
    let incoming: IncomingTrace
    /// The matched pattern (`/api/movies/{id:int}`), nil until a route matched.
    public internal(set) var route: String?

    init(requestID: String, incoming: IncomingTrace) {
        self.requestID = requestID
        self.incoming = incoming
    }

    /// This service's span: a child of the caller's `traceparent`, or a new trace. Outgoing
    /// calls send it as their parent (``injectTrace(into:)``).
    public var trace: TraceContext { incoming.trace }

    /// The request's `ServiceContext` (swift-distributed-tracing), for outgoing calls.
    public var serviceContext: InstrumentationContext { TracePropagation.process.context(for: incoming) }

    /// Adds the trace fields of a call made on behalf of this request (`traceparent` naming
    /// this service's span, the caller's `tracestate`), through the process's instrument.
    public func injectTrace(into headers: inout HTTPHeaders) {
        TracePropagation.process.inject(serviceContext, into: &headers)
    }

    @TaskLocal public static var current: RequestContext?

    /// Adds the current request's `request_id` and `trace_id` to every line logged while it
    /// is handled (the services' bootstrap installs it).
    public static let metadataProvider = Logger.MetadataProvider {
        guard let context = RequestContext.current else { return [:] }
        return ["request_id": .string(context.requestID), "trace_id": .string(context.trace.traceID)]
    }
}
