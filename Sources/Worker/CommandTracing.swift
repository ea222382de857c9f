import Kafka
import Tracing

/// Reads W3C trace context from a command's Kafka headers.
struct KafkaHeadersExtractor: Extractor {
    func extract(key: String, from carrier: [KafkaHeader]) -> String? {
        carrier.string(key)
    }
}

/// Writes W3C trace context onto a reply's Kafka headers.
struct KafkaHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [KafkaHeader]) {
        carrier.removeAll { $0.key == key }
        carrier.append(KafkaHeader(key: key, value: value))
    }
}

extension Tracer {
    /// The span of one command, from its first step to its reply: a child of the trace in the
    /// command's `traceparent` header, or the root of a new trace.
    func commandSpan(for message: KafkaConsumerMessage) -> any Tracing.Span {
        var context = ServiceContext.topLevel
        extract(message.headers, into: &context, using: KafkaHeadersExtractor())
        return startAnySpan("provisioning.command", context: context, ofKind: .consumer)
    }
}
