import Kafka
import Logging
import ProvisionerConfiguration
import Provisioning
import VendorAdapters
import Worker

/// The worker as `run`, `dev` and the tests build it from a configuration: the one place where
/// the configuration's worker, Kafka and target settings become the worker's.
public enum WorkerAssembly {
    /// The worker `settings` describe, named `workerId`, calling vendors through `http`;
    /// `version` goes into its status records. Builds only: nothing runs until the worker's `run()`.
    public static func worker(settings: ProvisionerConfiguration, workerId: String, version: String, http: LeanHTTPClient, logger: Logger) throws
        -> ProvisioningWorker
    {
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
            version: version)
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
