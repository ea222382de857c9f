import ArgumentParser
import Foundation
import Kafka
import Logging
import ProvisionerConfiguration
import ProvisioningContract

/// `provisioner reconcile`: proof that every command got an answer (contract section 12).
struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report every command without a reply: per target and overall, from the commands, replies and dead-letter topics.",
        discussion: """
            Reads the commands topic up to its end at the start of the run, and the replies and dead letters. A command is \
            answered when a reply carries its commandId or, when its commandId cannot be read, when a dead letter names its \
            partition and offset. Exits 1 while a command older than --grace has no answer, 0 when none.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    @Option(help: "The configuration file (only its kafka section is used).")
    var config = "config/worker.yaml"

    @Option(help: "Only commands written at or after this time: RFC 3339 (2026-12-01T10:00:00Z) or a duration ago (90m, 2h).")
    var since: ReconcileTime?

    @Option(help: "Only commands written before this time, as --since.")
    var until: ReconcileTime?

    @Option(help: "Commands younger than this are pending, not unanswered (200ms, 60s, 5m, 1h).")
    var grace: ReconcileDuration = ReconcileDuration(.seconds(60))

    @Option(help: "table or json (contract section 12).")
    var format: Format = .table

    @Flag(help: "Re-publish the unanswered commands with their original key, value and headers.")
    var republish = false

    @Flag(help: "Re-publish without asking on a terminal.")
    var yes = false

    func validate() throws {
        if let since, let until, until.milliseconds <= since.milliseconds { throw ValidationError("--until must be after --since") }
    }

    func run() async throws {
        var logger = Logger(label: "provisioner.reconcile")
        logger.logLevel = .error
        let settings = try ConfigurationLoader.load(config, sections: .kafka)
        let kafka = settings.kafka
        try await KafkaReachability.check(kafka, logger: logger)
        let progress = ScanProgress()

        // The commands' end first: replies to every command up to it are then already written, or
        // being written, when the replies are read.
        let commands = KafkaTopicReader(kafka, topic: kafka.commandsTopic, logger: logger)
        let commandRanges = try await commands.extent()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var reconciliation = Reconciliation(
            commandsTopic: kafka.commandsTopic, since: since?.milliseconds, until: until?.milliseconds,
            graceCutoff: now - grace.duration.milliseconds)

        let replies = KafkaTopicReader(kafka, topic: kafka.repliesTopic, logger: logger)
        let replyRanges = try await replies.extent()
        reconciliation.expect(replies: replyRanges.total)
        progress.start(kafka.repliesTopic, records: replyRanges.total)
        try await replies.read(replyRanges) { message in
            reconciliation.reply(message)
            progress.advance()
        }
        let deadLetters = KafkaTopicReader(kafka, topic: kafka.deadLettersTopic, logger: logger)
        let letterRanges = try await deadLetters.extent()
        progress.start(kafka.deadLettersTopic, records: letterRanges.total)
        try await deadLetters.read(letterRanges) { message in
            reconciliation.deadLetter(message)
            progress.advance()
        }
        progress.start(kafka.commandsTopic, records: commandRanges.total)
        try await commands.read(commandRanges) { message in
            reconciliation.command(message)
            progress.advance()
        }
        progress.done()
        reconciliation.finish()

        let report = ReconcileReport(reconciliation, now: now)
        Console.line(format == .json ? report.json : report.table)

        if republish, !reconciliation.unanswered.isEmpty {
            try await Self.republish(reconciliation.unanswered, ranges: commandRanges, kafka: kafka, ask: !yes, logger: logger)
        }
        if !reconciliation.unanswered.isEmpty { throw ExitCode(1) }
    }

    /// Reads the commands topic again and re-sends the unanswered ones as they were.
    private static func republish(
        _ unanswered: [Reconciliation.Unanswered], ranges: [Int32: Range<Int64>], kafka: ProvisionerConfiguration.Kafka, ask: Bool, logger: Logger
    ) async throws {
        let count = unanswered.count
        if ask, Terminal.isInteractive {
            guard Terminal.confirm("Re-publish \(count) unanswered command\(count == 1 ? "" : "s") to \(kafka.commandsTopic)?") else {
                Console.line("nothing re-published")
                return
            }
        }
        var positions: [Int32: Set<Int64>] = [:]
        for command in unanswered { positions[command.partition, default: []].insert(command.offset) }
        let wanted = positions.mapValues { offsets in offsets.min()!..<(offsets.max()! + 1) }
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration, logger: logger)
        var pending: [KafkaPendingDelivery] = []
        let progress = ScanProgress()
        progress.start("re-publishing", records: Int64(count))
        try await KafkaTopicReader(kafka, topic: kafka.commandsTopic, logger: logger).read(wanted.filter { ranges[$0.key] != nil }) { message in
            guard positions[message.partition]?.contains(message.offset) == true else { return }
            pending.append(
                try producer.submit(KafkaProducerMessage(topic: kafka.commandsTopic, key: message.key, value: message.value, headers: message.headers)))
        }
        for delivery in pending {
            _ = try await delivery.acknowledgement()
            progress.advance()
        }
        progress.done()
        await producer.close()
        Console.line("re-published \(pending.count) command\(pending.count == 1 ? "" : "s") to \(kafka.commandsTopic)")
    }
}

extension [Int32: Range<Int64>] {
    fileprivate var total: Int64 { values.reduce(0) { $0 + Int64($1.count) } }
}

/// A point in time for `--since` and `--until`: RFC 3339, or a duration before now.
struct ReconcileTime: ExpressibleByArgument, Sendable {
    /// Milliseconds since the epoch.
    let milliseconds: Int64

    init?(argument: String) {
        if let date = try? Timestamp.parse(argument) {
            milliseconds = Int64(date.timeIntervalSince1970 * 1000)
        } else if let ago = ProvisionerConfiguration.parseDuration(argument) {
            milliseconds = Int64(Date().timeIntervalSince1970 * 1000) - ago.milliseconds
        } else {
            return nil
        }
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// A duration option written as the configuration writes durations.
struct ReconcileDuration: ExpressibleByArgument, Sendable {
    let duration: Duration

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        guard let duration = ProvisionerConfiguration.parseDuration(argument) else { return nil }
        self.duration = duration
    }

    var defaultValueDescription: String { "\(duration.milliseconds / 1000)s" }
}
