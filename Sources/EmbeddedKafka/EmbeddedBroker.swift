import Kafka
import Logging
import ServiceLifecycle

/// `provisioner broker` as a `Service`: an embedded cluster with the contract's topics, and
/// optionally its fault-injection API on loopback, from `run()` until its graceful shutdown.
/// The cluster lives exactly as long as `run()`.
public struct EmbeddedBroker: Service {
    public var brokers: Int
    public var partitions: Int
    /// Serves `BrokerControl` on 127.0.0.1 at this port (0: any free port); nil: no API.
    public var controlPort: Int?
    /// librdkafka `debug` contexts for the mock cluster (`mock,cgrp` logs every request).
    public var debug: String?
    private let logger: Logger
    private let ready: @Sendable (String) async throws -> Void
    private let controlListening: @Sendable (Int) async -> Void

    /// `ready` is told the bootstrap servers once the topics exist; `controlListening` the
    /// control API's port once it listens.
    public init(
        brokers: Int, partitions: Int, controlPort: Int? = nil, debug: String? = nil, logger: Logger,
        ready: @escaping @Sendable (String) async throws -> Void, controlListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.brokers = brokers
        self.partitions = partitions
        self.controlPort = controlPort
        self.debug = debug
        self.logger = logger
        self.ready = ready
        self.controlListening = controlListening
    }

    public func run() async throws {
        let cluster = try EmbeddedCluster.start(brokers: brokers, partitions: partitions, debug: debug, logger: logger)
        defer { withExtendedLifetime(cluster) {} }
        try await ready(cluster.bootstrapServers)
        logger.info(
            "embedded Kafka ready",
            metadata: [
                "bootstrap": "\(cluster.bootstrapServers)", "brokers": "\(brokers)", "partitions": "\(partitions)",
                "topics": "\(EmbeddedCluster.contractTopics.joined(separator: ","))",
            ])
        if let controlPort {
            let control = BrokerControl(cluster: cluster, topics: Dictionary(uniqueKeysWithValues: EmbeddedCluster.contractTopics.map { ($0, partitions) }))
            let (logger, listening) = (logger, controlListening)
            // Runs until the graceful shutdown (or fails to start: a port in use).
            try await BrokerControlServer.application(control: control, port: controlPort, logger: logger) { port in
                logger.info("fault-injection API listening on loopback, for tests only", metadata: ["port": "\(port)"])
                await listening(port)
            }.run()
        } else {
            try? await gracefulShutdown()
        }
        logger.info("stopping embedded Kafka")
    }
}
