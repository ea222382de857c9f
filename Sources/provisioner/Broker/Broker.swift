import ArgumentParser
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import UnixSignals

/// `provisioner broker`: an embedded Kafka cluster other processes can use (contract section 8).
struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an embedded Kafka cluster (librdkafka's mock cluster) until SIGINT or SIGTERM.",
        discussion: """
            Prints the bootstrap servers as the first line of standard output and creates the contract's topics. \
            With --control-port, also serves the fault-injection API (brokers down and up, round-trip time, request errors, \
            leader and coordinator moves) on 127.0.0.1, for tests and chaos runs only, and prints `control http://127.0.0.1:PORT` \
            as the second line.
            """
    )

    @Option(help: "Number of brokers.")
    var brokers: Int = 3

    @Option(help: "Partitions of each contract topic.")
    var partitions: Int = 12

    @Option(name: .customLong("bootstrap-file"), help: "Also write the bootstrap servers to this file.")
    var bootstrapFile: String?

    @Option(name: .customLong("control-port"), help: "Serve the fault-injection API on 127.0.0.1 at this port (0: any free port).")
    var controlPort: Int?

    func validate() throws {
        guard brokers >= 1 else { throw ValidationError("--brokers must be at least 1") }
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
        if let controlPort, !(0...65535).contains(controlPort) { throw ValidationError("--control-port must be 0 to 65535") }
    }

    func run() async throws {
        let logger = Logger(label: "provisioner.broker")
        // Trapped before the first line: whoever reads it may signal right away.
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
        if let controlPort {
            let control = BrokerControl(cluster: cluster, topics: Dictionary(uniqueKeysWithValues: EmbeddedCluster.contractTopics.map { ($0, partitions) }))
            let application = BrokerControlServer.application(control: control, port: controlPort, logger: logger) { port in
                Console.line("control http://127.0.0.1:\(port)")
                logger.info("fault-injection API listening on loopback, for tests only", metadata: ["port": "\(port)"])
            }
            let server = ServiceGroup(configuration: .init(services: [application], logger: logger))
            // The server runs until a signal (or fails to start: a port in use).
            try await withThrowingTaskGroup(of: Bool.self) { tasks in
                tasks.addTask {
                    try await server.run()
                    return true
                }
                tasks.addTask {
                    await Self.firstSignal(signals, logger: logger)
                    return false
                }
                if try await tasks.next() == false {
                    await server.triggerGracefulShutdown()
                } else {
                    tasks.cancelAll()
                }
                try await tasks.waitForAll()
            }
        } else {
            await Self.firstSignal(signals, logger: logger)
        }
        withExtendedLifetime(cluster) {}
    }

    private static func firstSignal(_ signals: UnixSignalsSequence, logger: Logger) async {
        for await signal in signals {
            logger.info("stopping embedded Kafka", metadata: ["signal": "\(signal)"])
            return
        }
    }
}

/// The embedded cluster with the contract's topics, as `broker` and `dev` start it.
enum EmbeddedCluster {
    /// Section 1's topics at their default names. The status and redrive-audit topics are
    /// compacted on a real cluster; the embedded one keeps every record (it has no compaction).
    static let contractTopics = ["provisioning.commands", "provisioning.replies", "provisioning.dlq", "provisioning.status", "provisioning.dlq.replays"]

    static func start(brokers: Int, partitions: Int, debug: String? = nil, logger: Logger) throws -> EmbeddedKafkaCluster {
        let cluster = try EmbeddedKafkaCluster(brokers: brokers, debug: debug, logger: logger)
        for topic in contractTopics {
            try cluster.createTopic(topic, partitions: partitions)
        }
        return cluster
    }
}
