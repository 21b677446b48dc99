import HTTP
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
}
