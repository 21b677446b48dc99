import HTTP
import Instrumentation

// Trace context through swift-distributed-tracing's `Instrumentation` (the Swift server
// convention): an `Instrument` extracts it from an incoming request's headers into the
// request's `ServiceContext` (`InstrumentationContext`) and injects it into outgoing calls'.
// Ours is `W3CTraceContextInstrument`; each executable bootstraps it with
// `InstrumentationSystem.bootstrap`. `TracePropagation` is how the request paths reach it.

/// The request's span (``TraceContext``) in a `ServiceContext`.
public enum TraceContextKey: ServiceContextKey {
    public typealias Value = TraceContext
    public static var nameOverride: String? { "traceparent" }
}

/// A valid `traceparent`'s `tracestate` (vendors' entries), passed on unchanged.
public enum TraceStateKey: ServiceContextKey {
    public typealias Value = String
    public static var nameOverride: String? { "tracestate" }
}

extension InstrumentationContext {
    /// This process's span of the request's trace.
    public var traceContext: TraceContext? {
        get { self[TraceContextKey.self] }
        set { self[TraceContextKey.self] = newValue }
    }

    /// The caller's `tracestate`, kept only with a valid `traceparent`.
    public var traceState: String? {
        get { self[TraceStateKey.self] }
        set { self[TraceStateKey.self] = newValue }
    }
}

/// W3C Trace Context (`traceparent`, `tracestate`) as a swift-distributed-tracing `Instrument`.
/// Extracting makes this process's span: a child of a valid `traceparent`, else the first span
/// of a new trace (an invalid value is not trusted); injecting names that span as the parent.
public struct W3CTraceContextInstrument: Instrument {
    public init() {}

    public func extract<Carrier, Extract>(
        _ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract
    ) where Extract: Extractor, Extract.Carrier == Carrier {
        guard let parent = extractor.extract(key: "traceparent", from: carrier).flatMap(TraceContext.init(traceparent:))
        else {
            context.traceContext = .start()
            return
        }
        context.traceContext = parent.child()
        if let state = extractor.extract(key: "tracestate", from: carrier) { context.traceState = state }
    }

    public func inject<Carrier, Inject>(
        _ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject: Injector, Inject.Carrier == Carrier {
        guard let trace = context.traceContext else { return }
        injector.inject(trace.traceparent, forKey: "traceparent", into: &carrier)
        if let state = context.traceState { injector.inject(state, forKey: "tracestate", into: &carrier) }
    }
}

/// Reads an instrument's keys from our ``HTTPHeaders`` (first value, name case ignored).
public struct HTTPHeadersExtractor: Extractor {
    public init() {}

    public func extract(key: String, from headers: HTTPHeaders) -> String? {
        headers[key]
    }
}

/// Writes an instrument's keys into our ``HTTPHeaders``, replacing a field of that name.
public struct HTTPHeadersInjector: Injector {
    public init() {}

    public func inject(_ value: String, forKey key: String, into headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: key, value: value)
    }
}

/// An incoming request's trace, as ``TracePropagation/incoming(_:)`` read it.
public struct IncomingTrace: Sendable {
    /// This process's span.
    public var trace: TraceContext
    /// Whether the request's `traceparent` was valid (its trace is continued).
    public var continued: Bool
    /// Whether the request had a `traceparent` at all (valid or not).
    public var present: Bool
    /// A continued trace's `tracestate`, when asked for.
    public var traceState: String?
    /// What an instrument other than ours extracted; nil with ours.
    public var extracted: InstrumentationContext?
}

/// How the request paths reach the process's instrument, read once from
/// `InstrumentationSystem.instrument` (bootstrap it before the first request).
///
/// With ``W3CTraceContextInstrument`` (or none bootstrapped: the W3C contract of docs/API.md
/// holds either way) the request paths read and write `traceparent` as bytes, with the same
/// parser and writer the instrument uses: no `String`, no `ServiceContext` dictionary, no
/// instrument look-up per request (loadtest/RESULTS.md has what those cost). Any other
/// instrument (a `MultiplexInstrument` with ours and an exporter's, say) is called through
/// the `Instrument` API, at entry and on every outgoing call. A class: the request paths
/// share the process's by reference instead of copying an existential per request.
public final class TracePropagation: Sendable {
    /// The process's, resolved at its first use.
    public static let process = TracePropagation(instrument: InstrumentationSystem.instrument)

    public let instrument: any Instrument
    /// Whether the instrument is ours (then the request paths work on bytes).
    public let isW3C: Bool

    public init(instrument: any Instrument) {
        if instrument is NoOpInstrument {
            self.instrument = W3CTraceContextInstrument()
        } else {
            self.instrument = instrument
        }
        isW3C = self.instrument is W3CTraceContextInstrument
    }

    /// This process's span for a request carrying `headers`; `readingTraceState`: whether to
    /// keep a continued trace's `tracestate` for outgoing calls (the gateway forwards the
    /// client's field in place instead).
    public func incoming(_ headers: HTTPHeaders, readingTraceState: Bool = true) -> IncomingTrace {
        guard isW3C else {
            var context = InstrumentationContext.topLevel
            instrument.extract(headers, into: &context, using: HTTPHeadersExtractor())
            let parent = headers[.traceparent].flatMap(TraceContext.init(traceparent:))
            let trace = context.traceContext ?? .start()
            return IncomingTrace(
                trace: trace, continued: parent?.traceIDHigh == trace.traceIDHigh && parent?.traceIDLow == trace.traceIDLow,
                present: headers.contains(.traceparent), traceState: nil, extracted: context)
        }
        let found = TraceContext.continuing(headers)
        return IncomingTrace(
            trace: found.context, continued: found.continued, present: found.present,
            traceState: readingTraceState && found.continued ? headers[.tracestate] : nil, extracted: nil)
    }

    /// The `ServiceContext` an outgoing call on behalf of `incoming` carries.
    public func context(for incoming: IncomingTrace) -> InstrumentationContext {
        context(for: incoming.trace, traceState: incoming.traceState, extracted: incoming.extracted)
    }

    /// A context whose span is `trace`, with what the instrument extracted (if it is not
    /// ours); the deletion relay's, started outside a request, has only the span.
    public func context(
        for trace: TraceContext, traceState: String? = nil, extracted: InstrumentationContext? = nil
    ) -> InstrumentationContext {
        var context = extracted ?? .topLevel
        if context.traceContext == nil { context.traceContext = trace }
        if let traceState { context.traceState = traceState }
        return context
    }

    /// Adds `context`'s trace fields to an outgoing call's headers, through the instrument.
    public func inject(_ context: InstrumentationContext, into headers: inout HTTPHeaders) {
        instrument.inject(context, into: &headers, using: HTTPHeadersInjector())
    }
}
