import ArgumentParser
import Assembly
import Foundation
import Kafka
import Logging
import ProvisionerConfiguration
import ProvisioningContract
import Redrive
import ServiceLifecycle

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
        @Option(help: "Only dead letters whose commandId, key, target, error or (redacted) value contain this text.")
        var text: String?

        func validate() throws {
            for (name, value) in [("--since", since), ("--until", until)] {
                if let value, (try? Timestamp.parse(value)) == nil { throw ValidationError("\(name) must be an RFC 3339 time, not '\(value)'") }
            }
        }

        var filter: DeadLetterFilter {
            DeadLetterFilter(
                category: category, code: code, target: target, since: since.flatMap { try? Timestamp.parse($0) },
                until: until.flatMap { try? Timestamp.parse($0) }, text: text)
        }

        func read() async throws -> (settings: ProvisionerConfiguration, letters: [DeadLetter], history: [RedriveRecord]) {
            var logger = Logger(label: "provisioner.dlq")
            logger.logLevel = .error
            let settings = try ConfigurationLoader.load(config, sections: .kafka)
            try await KafkaReachability.check(settings.kafka, logger: logger)
            let letters = try await KafkaTopicReader(settings.kafka, topic: settings.kafka.deadLettersTopic, logger: logger).readToEnd()
            let audit = try await KafkaTopicReader(settings.kafka, topic: settings.kafka.replaysTopic, logger: logger).readToEnd()
            return (settings, letters.map(DeadLetter.init), audit.compactMap { $0.value.flatMap { try? RedriveRecord.decode($0) } })
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters (values redacted).")
        @OptionGroup var filters: Filters

        func run() async throws {
            let (_, letters, history) = try await filters.read()
            let redriven = RedrivePlan.redriven(history)
            let shown = letters.filter(filters.filter.matches)
            for letter in shown {
                Console.line(
                    [
                        letter.position.description, letter.commandId ?? "-", letter.target ?? "-", letter.category ?? "-", letter.code ?? "-",
                        letter.headers.string("dlq.failed.at") ?? "-", redriven[letter.position].map { "redriven \($0)x" } ?? "-",
                        Redaction.scrub(letter.errorMessage ?? ""),
                    ].joined(separator: "  "))
            }
            Console.line("\(shown.count) dead letter\(shown.count == 1 ? "" : "s")")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-publish dead letters to the commands topic: original key, value and headers, recorded in the replays topic.",
            discussion: """
                Dead letters redriven before are skipped unless --include-replayed. On a terminal it shows the \
                preview, asks before sending and shows progress; Ctrl-C stops it (what was sent stays recorded).
                """
        )
        @OptionGroup var filters: Filters
        @Flag(help: "Print what would be re-published (counts per target and category, and the records) and send nothing.")
        var dryRun = false
        @Option(help: "Re-publish at most this many records a second.")
        var rate: Double?
        @Flag(help: "Do not ask for confirmation.")
        var yes = false
        @Flag(help: "Also re-publish dead letters that were redriven before.")
        var includeReplayed = false

        func validate() throws {
            if let rate, !(rate > 0) { throw ValidationError("--rate must be a positive number of records a second, not \(rate)") }
        }

        func run() async throws {
            let (settings, letters, history) = try await filters.read()
            let plan = RedrivePlan(deadLetters: letters, history: history, filter: filters.filter, includeReplayed: includeReplayed)
            Self.preview(plan)
            if dryRun {
                for letter in plan.letters {
                    Console.line("\(letter.position)  key \(letter.keyText ?? "-")  \(letter.redactedValue)")
                }
                Console.line("dry run: nothing sent")
                return
            }
            guard !plan.letters.isEmpty else { return }
            if !yes, Terminal.isInteractive {
                let pace = rate.map { " at \($0.formatted()) a second" } ?? ""
                guard
                    Terminal.confirm(
                        "Re-publish \(plan.letters.count) dead letter\(plan.letters.count == 1 ? "" : "s") to \(settings.kafka.commandsTopic)\(pace)?")
                else {
                    Console.line("nothing sent")
                    return
                }
            }
            var logger = Logger(label: "provisioner.dlq")
            logger.logLevel = .error
            let producer = try KafkaProducer(configuration: settings.kafka.producerConfiguration, logger: logger)
            let showsProgress = Terminal.showsProgress
            let redrive = Redrive(
                plan: plan, by: "cli@\(ProcessInfo.processInfo.hostName)", rate: rate, producer: producer,
                topics: Redrive.Topics(commands: settings.kafka.commandsTopic, replays: settings.kafka.replaysTopic), logger: logger
            ) { progress in
                if showsProgress { Terminal.status("redriving: \(progress.sent.formatted()) of \(progress.total.formatted())") }
            }
            // Ctrl-C or SIGTERM cancels the redrive (its record then says cancelled); its end
            // shuts the producer down, which delivers what was sent.
            try await ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: producer), .init(service: redrive.service, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
            ).run()
            let record = redrive.auditRecord
            if showsProgress { Terminal.status("") }
            let sent = record.coveredPositions.count
            Console.line("redrive \(record.id): \(record.state.rawValue), \(sent) of \(record.selected) re-published to \(settings.kafka.commandsTopic)")
            if let error = record.error { throw RedriveFailed(message: error) }
            if record.state == .cancelled { throw ExitCode(130) }
        }

        /// What the selection covers, per target and category.
        static func preview(_ plan: RedrivePlan) {
            Console.line("\(plan.letters.count) dead letter\(plan.letters.count == 1 ? "" : "s") selected (\(plan.filter.summary))")
            for line in plan.preview { Console.line("  \(line.target)  \(line.category)  \(line.count)") }
            if !plan.skipped.isEmpty { Console.line("\(plan.skipped.count) skipped: redriven before (--include-replayed to include them)") }
        }
    }

    struct RedriveFailed: Error, CustomStringConvertible {
        let message: String
        var description: String { "redrive stopped: \(message)" }
    }
}
