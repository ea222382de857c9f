import ArgumentParser
import EmbeddedKafka
import Foundation
import Logging
import ServiceLifecycle

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
        let bootstrapFile = self.bootstrapFile
        let broker = EmbeddedBroker(
            brokers: brokers, partitions: partitions, controlPort: controlPort,
            // KAFKA_DEBUG=mock,cgrp (with LOG_LEVEL=debug) logs every request the brokers handle.
            debug: ProcessInfo.processInfo.environment["KAFKA_DEBUG"], logger: logger,
            ready: { bootstrap in
                // The file first: whoever reads the first line may look for the file right away.
                if let bootstrapFile {
                    try Data((bootstrap + "\n").utf8).write(to: URL(fileURLWithPath: bootstrapFile), options: .atomic)
                }
                Console.line(bootstrap)
            },
            controlListening: { port in Console.line("control http://127.0.0.1:\(port)") })
        // The group traps the signals before the broker starts: whoever reads the first line may
        // signal right away.
        let group = ServiceGroup(configuration: .init(services: [broker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
