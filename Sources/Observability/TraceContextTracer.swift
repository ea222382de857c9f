import Logging
import Synchronization
import Tracing
import W3CTraceContext

/// A tracer that continues W3C trace context (`traceparent`, `tracestate`) across the worker:
/// from a command's Kafka headers through the vendor HTTP call to the reply's headers, and starts
/// a new trace when a command has none. It exports nothing; ended spans are logged at debug
/// level. Bootstrapping an exporting tracer (swift-otel) instead changes no call site.
public struct TraceContextTracer: Tracer {
    public typealias Span = TraceContextSpan
    private let logSpans: Bool

    /// With `logSpans`, every ended span is a debug line (`span`, ids, duration).
    public init(logSpans: Bool = false) {
        self.logSpans = logSpans
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> TraceContextSpan {
        var context = context()
        let parent = context.traceContext
        context.traceContext = TraceContext(
            traceID: parent?.traceID ?? .random(), spanID: .random(),
            flags: parent?.flags ?? .sampled, state: parent?.state ?? TraceState([])
        )
        return TraceContextSpan(
            operationName: operationName, kind: kind, context: context, parentSpanID: parent.map { "\($0.spanID)" },
            startNanoseconds: instant().nanosecondsSinceEpoch, logSpans: logSpans
        )
    }

    public func forceFlush() {}

    public func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let parent = extractor.extract(key: "traceparent", from: carrier) else { return }
        // A malformed header starts a new trace rather than failing the command.
        if let traceContext = try? TraceContext(traceParentHeaderValue: parent, traceStateHeaderValue: extractor.extract(key: "tracestate", from: carrier)) {
            context.traceContext = traceContext
        }
    }

    public func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let traceContext = context.traceContext else { return }
        injector.inject(traceContext.traceParentHeaderValue, forKey: "traceparent", into: &carrier)
        if let state = traceContext.traceStateHeaderValue, !state.isEmpty {
            injector.inject(state, forKey: "tracestate", into: &carrier)
        }
    }
}

/// A span of `TraceContextTracer`: its context carries the W3C trace context to propagate.
public final class TraceContextSpan: Tracing.Span {
    public let context: ServiceContext
    public let kind: SpanKind
    public let isRecording = true
    private let parentSpanID: String?
    private let startNanoseconds: UInt64
    private let logSpans: Bool
    private let state: Mutex<State>

    private struct State {
        var operationName: String
        var attributes: SpanAttributes = [:]
        var status: SpanStatus?
        var ended = false
    }

    init(operationName: String, kind: SpanKind, context: ServiceContext, parentSpanID: String?, startNanoseconds: UInt64, logSpans: Bool) {
        self.context = context
        self.kind = kind
        self.parentSpanID = parentSpanID
        self.startNanoseconds = startNanoseconds
        self.logSpans = logSpans
        self.state = Mutex(State(operationName: operationName))
    }

    public var operationName: String {
        get { state.withLock { $0.operationName } }
        set { state.withLock { $0.operationName = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    public func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status } }
    public func addEvent(_ event: SpanEvent) {}
    public func addLink(_ link: SpanLink) {}

    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        state.withLock { $0.status = SpanStatus(code: .error) }
    }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let ended = state.withLock { state -> State? in
            guard !state.ended else { return nil }
            state.ended = true
            return state
        }
        guard let ended, logSpans, let traceContext = context.traceContext else { return }
        let end = instant().nanosecondsSinceEpoch
        Logger(label: "provisioner.trace").debug(
            "span",
            metadata: [
                "span": "\(ended.operationName)", "traceId": "\(traceContext.traceID)", "spanId": "\(traceContext.spanID)",
                "parentSpanId": "\(parentSpanID ?? "")", "status": "\(ended.status?.code == .error ? "error" : "ok")",
                "ms": "\(Double(end &- startNanoseconds) / 1_000_000)",
            ])
    }
}

private enum TraceContextKey: ServiceContextKey {
    typealias Value = TraceContext
}

extension ServiceContext {
    /// The W3C trace context of the current span, if any.
    public var traceContext: TraceContext? {
        get { self[TraceContextKey.self] }
        set { self[TraceContextKey.self] = newValue }
    }
}

extension Logger.MetadataProvider {
    /// Adds the current trace and span ids to every log line, to find a command's lines by trace.
    public static let traceContext = Logger.MetadataProvider {
        guard let traceContext = ServiceContext.current?.traceContext else { return [:] }
        return ["traceId": "\(traceContext.traceID)", "spanId": "\(traceContext.spanID)"]
    }
}
