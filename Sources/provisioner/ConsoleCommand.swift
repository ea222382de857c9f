import ArgumentParser
import Assembly
import Console
import Foundation
import Logging
import ProvisionerConfiguration
import ServiceLifecycle

/// `provisioner console`: the operator console (contract section 10) until SIGTERM or SIGINT.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console", abstract: "Serve the operator console: the worker fleet, live replies, search, dead letters and their redrives, from Kafka.")

    @Option(help: "The configuration file (its kafka and console sections are used).")
    var config = "config/worker.yaml"

    @Option(help: "The port, instead of console.port (0 picks a free one).")
    var port: Int?

    func run() async throws {
        let settings = try ConfigurationLoader.load(config, sections: [.kafka, .console])
        guard let username = settings.console.username, let password = settings.console.password else {
            FileHandle.standardError.write(Data("configuration error: console.auth: username and password are required to serve the console\n".utf8))
            throw ExitCode(64)
        }
        try ListeningPort.check(port == nil ? "console.port" : "--port", host: settings.console.host, port: port ?? settings.console.port)
        let logger = Logger(label: "provisioner.console")
        try await KafkaReachability.check(settings.kafka, logger: logger)
        let services = try ConsoleApplication.services(
            settings: Self.settings(settings, credentials: ConsoleCredentials(username: username, password: password), port: port), logger: logger
        ) { bound in
            Console.line("console http://\(settings.console.host):\(bound)/")
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// The console's settings from the configuration (`dev` makes its credentials up).
    static func settings(_ settings: ProvisionerConfiguration, credentials: ConsoleCredentials, port: Int?) -> ConsoleSettings {
        var console = ConsoleSettings(credentials: credentials, bootstrapServers: settings.kafka.bootstrapServers)
        console.host = settings.console.host
        console.port = port ?? settings.console.port
        console.kafkaProperties = settings.kafka.properties
        console.producerProperties = settings.kafka.producerConfiguration.properties
        console.statusTopic = settings.kafka.statusTopic
        console.deadLettersTopic = settings.kafka.deadLettersTopic
        console.repliesTopic = settings.kafka.repliesTopic
        console.replaysTopic = settings.kafka.replaysTopic
        console.commandsTopic = settings.kafka.commandsTopic
        console.replyWindow = settings.console.replyWindow
        console.commandWindow = settings.console.commandWindow
        console.deadLetterWindow = settings.console.deadLetterWindow
        return console
    }
}
