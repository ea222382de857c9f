import ArgumentParser
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
            let worker = try WorkerAssembly.worker(settings: settings, workerId: workerId, http: http, logger: logger)
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

/// The worker as `run` and `dev` build it from a configuration.
enum WorkerAssembly {
    static func worker(settings: ProvisionerConfiguration, workerId: String, http: LeanHTTPClient, logger: Logger) throws -> ProvisioningWorker {
        var consumerConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: settings.kafka.bootstrapServers, groupId: settings.kafka.groupId, topics: [settings.kafka.commandsTopic]
        )
        // A statistics sample every 5 s feeds the consumer-lag gauge (unless configured otherwise).
        consumerConfiguration.properties = ["statistics.interval.ms": "5000"].merging(settings.kafka.properties) { _, configured in configured }
        var producerConfiguration = settings.kafka.producerConfiguration
        // Large enough to dead-letter any command the commands topic accepted (the contract
        // refuses commands over 1 MiB, and their dead letter carries them byte for byte).
        producerConfiguration.properties = ["message.max.bytes": "16777216"].merging(producerConfiguration.properties) { _, configured in configured }

        let targets = settings.targets.mapValues { target in
            ProvisioningTarget(
                name: target.name, vendor: target.vendor, baseURL: target.baseURL.absoluteString,
                credentials: target.credentials, tenant: target.tenant, timeout: target.timeout,
                policy: TargetPolicy(
                    retry: RetryPolicy(maxAttempts: target.retry.maxAttempts, initialBackoff: target.retry.initialBackoff, maxBackoff: target.retry.maxBackoff),
                    rateLimit: target.rateLimit.map { RateLimit(perSecond: $0.perSecond, burst: $0.burst) },
                    maxConcurrency: target.maxConcurrency
                )
            )
        }
        let adapters = Adapters.all(http: VendorHTTPClient(lean: http, logger: Logger(label: "provisioner.vendor")))
        let processor = CommandProcessor(targets: targets, adapters: adapters, worker: workerId)
        var workerSettings = WorkerSettings(
            repliesTopic: settings.kafka.repliesTopic, deadLettersTopic: settings.kafka.deadLettersTopic,
            groupId: settings.kafka.groupId, workerId: workerId
        )
        workerSettings.maxInFlight = settings.worker.maxInFlight
        workerSettings.shutdownGracePeriod = settings.worker.shutdownGracePeriod
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        // Status records go through a plain producer of their own: in exactly-once mode the
        // worker's producers are transactional, and a record every 5 s needs no batching.
        let status = WorkerStatusReporting(
            producer: try KafkaProducer(configuration: settings.kafka.producerConfiguration, logger: logger), topic: settings.kafka.statusTopic,
            version: ProvisionerVersion.current)
        guard settings.worker.exactlyOnce else {
            return ProvisioningWorker(
                consumer: consumer, producer: try KafkaProducer(configuration: producerConfiguration, logger: logger),
                processor: processor, settings: workerSettings, status: status, logger: logger
            )
        }
        // One transaction per commit tick carries everything finished since the last one: a short
        // tick keeps replies prompt for read_committed readers. The transactional id is this
        // process's own; a replacement producer reuses it, fencing the one it replaces.
        workerSettings.commitInterval = .milliseconds(100)
        producerConfiguration.transactionalId = "\(settings.kafka.groupId)-\(workerId)"
        let transactional = producerConfiguration
        return ProvisioningWorker(
            consumer: consumer,
            transactionalProducer: { () throws(KafkaError) -> KafkaProducer in try KafkaProducer(configuration: transactional, logger: logger) },
            processor: processor, settings: workerSettings, status: status, logger: logger
        )
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

extension ProvisionerConfiguration.Kafka {
    /// A producer for these settings: `kafka.properties` without the consumer-only ones, which a
    /// producer would reject or warn about.
    var producerConfiguration: KafkaProducerConfiguration {
        let consumerOnly: Set<String> = [
            "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "group.id", "auto.offset.reset",
            "enable.auto.commit", "partition.assignment.strategy", "isolation.level", "fetch.min.bytes", "fetch.wait.max.ms",
        ]
        return KafkaProducerConfiguration(bootstrapServers: bootstrapServers, properties: properties.filter { !consumerOnly.contains($0.key) })
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
    static func check(_ kafka: ProvisionerConfiguration.Kafka, logger: Logger) async throws {
        var quiet = logger
        quiet.logLevel = .critical
        do {
            _ = try await KafkaAdminClient.with(bootstrapServers: kafka.bootstrapServers, logger: quiet) { admin in
                try await admin.metadata(timeout: .seconds(10))
            }
        } catch {
            FileHandle.standardError.write(Data("Kafka unreachable at \(kafka.bootstrapServers): \(error)\n".utf8))
            throw ExitCode(69)
        }
    }
}
