import ArgumentParser
import Foundation
import Kafka
import Logging
import ProvisionerConfiguration
import ProvisioningContract

/// `provisioner dlq list` / `dlq replay`: inspect and re-drive dead letters.
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect and re-drive dead letters.",
        subcommands: [List.self, Replay.self]
    )

    /// Which dead letters a command applies to.
    struct Filters: ParsableArguments {
        @Option(help: "The configuration file (only its kafka section is used).")
        var config = "config/worker.yaml"
        @Option(help: "Only this error category, e.g. unavailable.")
        var category: String?
        @Option(help: "Only this error code, e.g. 24012.")
        var code: String?
        @Option(help: "Only commands for this target.")
        var target: String?
        @Option(help: "Only dead letters that failed at or after this RFC 3339 time.")
        var since: String?
        @Option(help: "Only dead letters that failed before this RFC 3339 time.")
        var until: String?

        func validate() throws {
            for (name, value) in [("--since", since), ("--until", until)] {
                if let value, (try? Timestamp.parse(value)) == nil { throw ValidationError("\(name) must be an RFC 3339 time, not '\(value)'") }
            }
        }

        func matches(_ letter: KafkaConsumerMessage) -> Bool {
            let headers = letter.headers
            if let category, headers.string("dlq.error.category") != category { return false }
            if let code, headers.string("dlq.error.code") != code { return false }
            if let target, Self.target(of: letter) != target { return false }
            let failedAt = headers.string("dlq.failed.at").flatMap { try? Timestamp.parse($0) }
            if let since, let bound = try? Timestamp.parse(since), (failedAt ?? .distantPast) < bound { return false }
            if let until, let bound = try? Timestamp.parse(until), (failedAt ?? .distantFuture) >= bound { return false }
            return true
        }

        static func target(of letter: KafkaConsumerMessage) -> String? { field("target", of: letter) }

        /// A top-level text field of the dead letter's value, when it is a JSON object.
        static func field(_ name: String, of letter: KafkaConsumerMessage) -> String? {
            guard let value = letter.value, let json = try? JSONDecoder().decode(JSONValue.self, from: Data(value)) else { return nil }
            return json[name]?.stringValue
        }

        func read() async throws -> (settings: ProvisionerConfiguration, letters: [KafkaConsumerMessage]) {
            var logger = Logger(label: "provisioner.dlq")
            logger.logLevel = .error
            let settings = try ConfigurationLoader.load(config, includeTargets: false)
            try await KafkaReachability.check(settings.kafka, logger: logger)
            let letters = try await TopicReader(kafka: settings.kafka, topic: settings.kafka.deadLettersTopic, logger: logger).readToEnd()
            return (settings, letters.filter(matches))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters.")
        @OptionGroup var filters: Filters

        func run() async throws {
            let (_, letters) = try await filters.read()
            for letter in letters {
                let headers = letter.headers
                let commandId = Filters.field("commandId", of: letter) ?? "-"
                Console.line(
                    [
                        "\(letter.partition)/\(letter.offset)", commandId, Filters.target(of: letter) ?? "-",
                        headers.string("dlq.error.category") ?? "-", headers.string("dlq.error.code") ?? "-",
                        headers.string("dlq.failed.at") ?? "-", headers.string("dlq.error.message") ?? "",
                    ].joined(separator: "  "))
            }
            Console.line("\(letters.count) dead letter\(letters.count == 1 ? "" : "s")")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-publish dead letters to the commands topic, original key, value and headers.")
        @OptionGroup var filters: Filters

        func run() async throws {
            let (settings, letters) = try await filters.read()
            var logger = Logger(label: "provisioner.dlq")
            logger.logLevel = .error
            let producer = try KafkaProducer(configuration: settings.kafka.producerConfiguration, logger: logger)
            for letter in letters {
                let original = letter.headers.filter { !$0.key.hasPrefix("dlq.") }
                try await producer.send(KafkaProducerMessage(topic: settings.kafka.commandsTopic, key: letter.key, value: letter.value, headers: original))
            }
            await producer.close()
            Console.line("replayed \(letters.count) dead letter\(letters.count == 1 ? "" : "s") to \(settings.kafka.commandsTopic)")
        }
    }
}
