import ArgumentParser
import Foundation
import Kafka
import Logging
import UnixSignals

/// `provisioner broker`: an embedded Kafka cluster other processes can use (contract section 8).
struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an embedded Kafka cluster (librdkafka's mock cluster) until SIGINT or SIGTERM.",
        discussion: "Prints the bootstrap servers as the first line of standard output and creates the three contract topics."
    )

    @Option(help: "Number of brokers.")
    var brokers: Int = 3

    @Option(help: "Partitions of each contract topic.")
    var partitions: Int = 12

    @Option(name: .customLong("bootstrap-file"), help: "Also write the bootstrap servers to this file.")
    var bootstrapFile: String?

    func validate() throws {
        guard brokers >= 1 else { throw ValidationError("--brokers must be at least 1") }
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
    }

    func run() async throws {
        let logger = Logger(label: "provisioner.broker")
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        // KAFKA_DEBUG=mock,cgrp (with LOG_LEVEL=debug) logs every request the brokers handle.
        let debug = ProcessInfo.processInfo.environment["KAFKA_DEBUG"]
        let cluster = try EmbeddedCluster.start(brokers: brokers, partitions: partitions, debug: debug, logger: logger)
        // The file first: whoever reads the first line may look for the file right away.
        if let bootstrapFile {
            try Data((cluster.bootstrapServers + "\n").utf8).write(to: URL(fileURLWithPath: bootstrapFile), options: .atomic)
        }
        Console.line(cluster.bootstrapServers)
        logger.info(
            "embedded Kafka ready",
            metadata: [
                "bootstrap": "\(cluster.bootstrapServers)", "brokers": "\(brokers)", "partitions": "\(partitions)",
                "topics": "\(EmbeddedCluster.contractTopics.joined(separator: ","))",
            ])
        for await signal in signals {
            logger.info("stopping embedded Kafka", metadata: ["signal": "\(signal)"])
            break
        }
        withExtendedLifetime(cluster) {}
    }
}

/// The embedded cluster with the contract's topics, as `broker` and `dev` start it.
enum EmbeddedCluster {
    static let contractTopics = ["provisioning.commands", "provisioning.replies", "provisioning.dlq"]

    static func start(brokers: Int, partitions: Int, debug: String? = nil, logger: Logger) throws -> EmbeddedKafkaCluster {
        let cluster = try EmbeddedKafkaCluster(brokers: brokers, debug: debug, logger: logger)
        for topic in contractTopics {
            try cluster.createTopic(topic, partitions: partitions)
        }
        return cluster
    }
}
