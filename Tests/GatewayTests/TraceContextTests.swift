import HTTP
import Instrumentation
import Telemetry
import Testing

/// W3C Trace Context's `traceparent`, as the gateway and the services read and write it.
@Suite(.timeLimit(.minutes(5))) struct TraceContextTests {
    static let example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func aValidValueRoundTrips() throws {
        let trace = try #require(TraceContext(traceparent: Self.example))
        #expect(trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace.spanIDString == "00f067aa0ba902b7")
        #expect(trace.flags == 1)
        #expect(trace.traceparent == Self.example)
    }

    /// Every shape the specification refuses, and a few an attacker might try.
    @Test func invalidValuesAreNotTrusted() {
        let invalid = [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",  // short
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // version 00 with more
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // separator
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // later version, no dash
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + String(repeating: "a", count: 300),  // too long
        ]
        for value in invalid { #expect(TraceContext(traceparent: value) == nil, "\(value)") }
        // A later version: its first 55 bytes are read as version 00.
        let later = TraceContext(traceparent: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next")
        #expect(later?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test func continuingKeepsAValidTraceAndStartsOneOtherwise() {
        let parent = TraceContext(traceparent: Self.example)
        let continued = TraceContext.continuing(["traceparent": Self.example])
        #expect(continued.continued)
        #expect(continued.context.traceID == parent?.traceID)
        #expect(continued.context.spanID != parent?.spanID)
        #expect(continued.context.flags == 1)
        let forged = TraceContext.continuing(["traceparent": "00-zz"])
        #expect(!forged.continued && forged.present)
        #expect(forged.context.traceID != parent?.traceID)
        let none = TraceContext.continuing([:])
        #expect(!none.continued && !none.present)
        #expect(none.context.traceIDHigh | none.context.traceIDLow != 0 && none.context.spanID != 0)
        #expect(TraceContext.start().traceID != TraceContext.start().traceID)
    }

    @Test func outgoingCallsNameThisSpanAsTheirParent() throws {
        let span = try #require(TraceContext(traceparent: Self.example)).child()
        var headers = HTTPHeaders()
        span.add(to: &headers)
        #expect(headers["traceparent"] == span.traceparent)
        #expect(headers["traceparent"]?.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-") == true)
    }

    /// The ids' hex digits, eight at a time, against the standard library's formatting.
    @Test func idsAreWrittenAsSixteenLowerCaseHexDigits() {
        var generator = SystemRandomNumberGenerator()
        let edges: [UInt64] = [1, 9, 10, 15, 16, 0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210, .max, 0xA0A0_0A0A_9F9F_F9F9]
        for value in edges + (0..<200).map({ _ in generator.next() }) {
            let expected = String(repeating: "0", count: 16 - String(value, radix: 16).count) + String(value, radix: 16)
            let trace = TraceContext(traceIDHigh: value, traceIDLow: ~value, spanID: value, flags: UInt8(truncatingIfNeeded: value))
            #expect(trace.spanIDString == expected)
            #expect(trace.traceID.hasPrefix(expected))
            let flags = String(UInt8(truncatingIfNeeded: value), radix: 16)
            #expect(trace.traceparent.hasSuffix("-\(expected)-\(flags.count == 1 ? "0" + flags : flags)"))
            #expect(TraceContext(traceparent: trace.traceparent) == trace)
        }
    }

    /// The swift-distributed-tracing `Instrument`: extract continues a valid trace (with its
    /// `tracestate`) or starts one, inject names this span as the parent.
    @Test func theInstrumentContinuesAValidTraceAndStartsOneOtherwise() throws {
        let instrument = W3CTraceContextInstrument()
        var context = InstrumentationContext.topLevel
        instrument.extract(
            ["traceparent": Self.example, "tracestate": "congo=t61rcWkgMzE"], into: &context, using: HTTPHeadersExtractor())
        let span = try #require(context.traceContext)
        #expect(span.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && span.spanIDString != "00f067aa0ba902b7")
        #expect(context.traceState == "congo=t61rcWkgMzE")
        var outgoing: HTTPHeaders = ["Accept": "application/json", "traceparent": "00-stale"]
        instrument.inject(context, into: &outgoing, using: HTTPHeadersInjector())
        #expect(outgoing.values("traceparent") == [span.traceparent])
        #expect(outgoing.values("tracestate") == ["congo=t61rcWkgMzE"])

        var forged = InstrumentationContext.topLevel
        instrument.extract(["traceparent": "00-zz", "tracestate": "evil=1"], into: &forged, using: HTTPHeadersExtractor())
        #expect(forged.traceContext != nil && forged.traceContext?.traceID != span.traceID)
        #expect(forged.traceState == nil)
        var untouched: HTTPHeaders = ["Accept": "application/json"]
        instrument.inject(.topLevel, into: &untouched, using: HTTPHeadersInjector())
        #expect(untouched.count == 1)
    }

    /// The request paths' bytes path (our instrument, or none bootstrapped) and the
    /// `Instrument` API give the same answer; another instrument is called through the API,
    /// on the way in and out.
    @Test func propagationReachesTheInstrument() throws {
        let incoming: HTTPHeaders = ["traceparent": Self.example, "tracestate": "congo=t61rcWkgMzE"]
        for propagation in [TracePropagation(instrument: NoOpInstrument()), TracePropagation(instrument: W3CTraceContextInstrument())] {
            #expect(propagation.isW3C)
            let trace = propagation.incoming(incoming)
            #expect(trace.continued && trace.present && trace.extracted == nil)
            #expect(trace.trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && trace.traceState == "congo=t61rcWkgMzE")
            var outgoing = HTTPHeaders()
            propagation.inject(propagation.context(for: trace), into: &outgoing)
            #expect(outgoing.values("traceparent") == [trace.trace.traceparent])
            #expect(outgoing.values("tracestate") == ["congo=t61rcWkgMzE"])
        }
        let multiplex = TracePropagation(instrument: MultiplexInstrument([W3CTraceContextInstrument(), TenantInstrument()]))
        #expect(!multiplex.isW3C)
        let trace = multiplex.incoming(["traceparent": Self.example, "x-tenant": "blue"])
        #expect(trace.continued && trace.present)
        #expect(trace.trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        var outgoing = HTTPHeaders()
        multiplex.inject(multiplex.context(for: trace), into: &outgoing)
        #expect(outgoing.values("traceparent") == [trace.trace.traceparent])
        #expect(outgoing.values("x-tenant") == ["blue"])
        let restarted = multiplex.incoming(["traceparent": "00-zz"])
        #expect(!restarted.continued && restarted.present)
    }
}

/// Another vendor's instrument: carries an `x-tenant` field through the context.
private struct TenantInstrument: Instrument {
    enum Key: ServiceContextKey { typealias Value = String }

    func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract: Extractor, Extract.Carrier == Carrier {
        if let tenant = extractor.extract(key: "x-tenant", from: carrier) { context[Key.self] = tenant }
    }

    func inject<Carrier, Inject>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        if let tenant = context[Key.self] { injector.inject(tenant, forKey: "x-tenant", into: &carrier) }
    }
}
