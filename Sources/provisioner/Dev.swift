import ArgumentParser
import Foundation
import Kafka
import Logging
import UnixSignals

/// `provisioner dev`: everything at once with no set-up. Today it starts the embedded cluster;
/// the simulators, the worker and the sample commands join as they land.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run embedded Kafka, the vendor simulators and a worker in one process, send the samples and show their replies."
    )

    @Flag(help: "Keep running after the samples, until SIGINT or SIGTERM.")
    var keepRunning = false

    func run() async throws {
        let logger = Logger(label: "provisioner.dev")
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let cluster = try EmbeddedCluster.start(brokers: 3, partitions: 12, logger: logger)
        Console.line("embedded Kafka:  \(cluster.bootstrapServers) (topics: \(EmbeddedCluster.contractTopics.joined(separator: ", ")))")
        Console.line("simulators:      coming soon")
        Console.line("worker:          coming soon")
        Console.line("sample commands: coming soon")
        if keepRunning {
            Console.line("running; press Ctrl-C to stop")
                for await _ in signals { break }
        }
        withExtendedLifetime(cluster) {}
    }
}
