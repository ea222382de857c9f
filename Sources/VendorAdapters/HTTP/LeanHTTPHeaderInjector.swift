import Tracing

/// Writes W3C trace context (`traceparent`, `tracestate`) straight into a lean request's bytes.
struct LeanHTTPHeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout LeanHTTPRequest) {
        // Trace context values are tokens the tracer made: one that a header cannot hold is dropped.
        try? carrier.addHeader(key, value)
    }
}
