import ArgumentParser
import Assembly
import Foundation
import Kafka
import Logging
import Metrics
import Observability
import Prometheus
import ProvisionerConfiguration
import Provisioning
import ProvisioningContract
import ServiceLifecycle
import VendorAdapters
import Worker

/// `provisioner run`: the worker.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the provisioning worker until SIGTERM or SIGINT.")

    @Option(help: "The configuration file.")
    var config = "config/worker.yaml"

    func run() async throws {
        let settings = try ConfigurationLoader.load(config, sections: .all)
        // Before Kafka: a second worker on this host with the same file stops here, named.
        try ListeningPort.check("observability.port", host: ObservabilityEndpoints.host, port: settings.observability.port)
        LogSetup.format.withLock { $0 = LogFormat(rawValue: settings.observability.logFormat.rawValue) ?? .json }
        let logger = Logger(label: "provisioner.worker")
        let workerId = "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)"
        let exporter = try TraceSetup.bootstrap(settings.observability.otlp, instance: workerId, logger: logger)
        try await KafkaReachability.check(settings.kafka, logger: logger)

        // Every metric of this process goes to one Prometheus registry, served at /metrics.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let http = VendorHTTP.makeClient()
        do {
            let worker = try WorkerAssembly.worker(settings: settings, workerId: workerId, version: ProvisionerVersion.current, http: http, logger: logger)
            logger.info(
                "worker started",
                metadata: [
                    "worker": "\(workerId)", "group": "\(settings.kafka.groupId)", "targets": "\(settings.targets.keys.sorted())",
                    "delivery": "\(settings.worker.exactlyOnce ? "exactly once (transactions)" : "at least once")",
                ])
            let health = ObservabilityEndpoints.application(worker: worker, registry: registry, port: settings.observability.port, logger: logger)
            // The exporter first: a group stops its services in reverse order, so it stops last
            // and exports the worker's final spans.
            let services: [any Service] = (exporter.map { [$0] } ?? []) + [worker, health]
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            await http.shutdown()
            throw error
        }
        await http.shutdown()
        logger.info("worker stopped")
    }

}

/// The one HTTP client of a process for vendor calls: pooled keep-alive connections to every
/// vendor, as many per origin as its target may make calls at once (`maxConcurrency`, so that no
/// call spends its timeout queueing), TLS certificates verified, no redirects followed. The lean
/// client rather than AsyncHTTPClient: docs/benchmarks.md ("Issue 29") has the measurements.
enum VendorHTTP {
    static func makeClient() -> LeanHTTPClient {
        LeanHTTPClient()
    }
}

/// Configuration errors exit 64 with the key named (contract section 8).
enum ConfigurationLoader {
    /// Reads and checks only `sections` (what the command uses, as its help says).
    static func load(_ path: String, sections: ProvisionerConfiguration.Sections) throws -> ProvisionerConfiguration {
        do {
            return try ProvisionerConfiguration.load(path: path, sections: sections)
        } catch {
            FileHandle.standardError.write(Data("configuration error: \(error)\n\(hint(for: error, config: path))".utf8))
            throw ExitCode(64)
        }
    }

    /// Where the simulators' sample value of an unset variable is, when the configuration's
    /// folder has the `simulator.env` that `dev` uses: a newcomer running the sample
    /// configuration by hand meets this first.
    private static func hint(for error: any Error, config path: String) -> String {
        guard let variable = (error as? ConfigurationError)?.unsetVariable else { return "" }
        let samples = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("simulator.env").relativePath
        guard let text = try? String(contentsOfFile: samples, encoding: .utf8),
            text.split(separator: "\n").contains(where: { $0.hasPrefix("\(variable)=") })
        else { return "" }
        return
            "the simulators' sample value of \(variable) is in \(samples): `set -a; . \(samples); set +a` (for `provisioner simulate` only, never a real vendor)\n"
    }
}

/// Kafka unreachable at start-up exits 69 (contract section 8).
enum KafkaReachability {
    /// Asks the cluster for its metadata with the configured client properties (security,
    /// `debug`). librdkafka's own lines go to `logger` at their level; a failure exits 69 naming
    /// what each broker last said (contract section 8).
    static func check(_ kafka: ProvisionerConfiguration.Kafka, logger: Logger) async throws {
        do {
            _ = try await KafkaAdminClient.with(bootstrapServers: kafka.bootstrapServers, properties: kafka.producerConfiguration.properties, logger: logger) {
                admin in
                try await admin.metadata(timeout: .seconds(10))
            }
        } catch {
            FileHandle.standardError.write(Data("Kafka unreachable at \(kafka.bootstrapServers): \(error)\n".utf8))
            throw ExitCode(69)
        }
    }
}
