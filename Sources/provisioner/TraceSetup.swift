import ArgumentParser
import Foundation
import Logging
import Observability
import ProvisionerConfiguration
import ServiceLifecycle
import Tracing

#if OTLP
    import OTel
#endif

/// The process's tracer, bootstrapped exactly once. Every subcommand but `run` gets W3C trace
/// context propagation only (`TraceContextTracer`); `run` bootstraps after reading its
/// configuration, so that `observability.otlp` can make it swift-otel's exporting tracer.
enum TraceSetup {
    /// W3C trace context, exporting nothing; ended spans are debug lines.
    static func bootstrapPropagationOnly() {
        InstrumentationSystem.bootstrap(TraceContextTracer(logSpans: LogSetup.level <= .debug))
    }

    /// The tracer `otlp` asks for, and the exporter's service (its batching and shutdown) to
    /// run beside the worker; nil without `otlp`.
    static func bootstrap(_ otlp: ProvisionerConfiguration.OTLP?, instance: String, logger: Logger) throws -> (any Service)? {
        guard let otlp else {
            bootstrapPropagationOnly()
            return nil
        }
        #if OTLP
            var configuration = OTel.Configuration.default
            configuration.serviceName = "provisioner"
            configuration.resourceAttributes = ["service.instance.id": instance, "service.version": ProvisionerVersion.current]
            configuration.diagnosticLogger = .custom(logger)
            configuration.logs.enabled = false
            configuration.metrics.enabled = false  // Prometheus serves them at /metrics
            configuration.traces.enabled = true
            configuration.traces.exporter = .otlp
            configuration.traces.otlpExporter.protocol = .httpProtobuf
            // Set explicitly, the endpoint is used as it is: the traces path is ours to add.
            configuration.traces.otlpExporter.endpoint = otlp.endpoint.appendingPathComponent("v1/traces").absoluteString
            configuration.traces.otlpExporter.headers = otlp.headers.map { ($0.key, $0.value.revealed) }
            configuration.propagators = [.traceContext]
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            InstrumentationSystem.bootstrap(backend.factory)
            return backend.service
        #else
            FileHandle.standardError.write(
                Data(
                    "configuration error: observability.otlp: this build exports no spans; build with the OTLP package trait (swift build -c release --traits OTLP)\n"
                        .utf8))
            throw ExitCode(64)
        #endif
    }
}
