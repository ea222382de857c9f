import ArgumentParser
import Assembly
import Foundation
import Kafka
import Logging
import ProvisionerConfiguration
import ProvisioningContract
import Reconcile

/// `provisioner reconcile`: proof that every command got an answer (contract section 12).
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Report every command without a reply: per target and overall, from the commands, replies and dead-letter topics.",
        discussion: """
            Reads the commands topic up to its end at the start of the run, and the replies and dead letters. A command is \
            answered when a reply carries its commandId or, when its commandId cannot be read, when a dead letter names its \
            partition and offset. Exits 1 while a command older than --grace has no answer, 0 when none, and 3 when it \
            cannot prove that: read from the beginning (no --since), it met replies naming commands it never read.
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
        let reconciler = Reconciler(
            commands: KafkaTopicReader(kafka, topic: kafka.commandsTopic, logger: logger),
            replies: KafkaTopicReader(kafka, topic: kafka.repliesTopic, logger: logger),
            deadLetters: KafkaTopicReader(kafka, topic: kafka.deadLettersTopic, logger: logger))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let scan = try await reconciler.reconcile(
            since: since?.milliseconds, until: until?.milliseconds, grace: grace.duration, now: now, progress: ScanProgress())
        let report = ReconcileReport(scan.reconciliation, now: now)
        Console.line(format == .json ? report.json : report.table)

        let count = scan.reconciliation.unanswered.count
        if republish, count > 0, Self.confirmed(count, to: kafka.commandsTopic, ask: !yes) {
            let republished = try await reconciler.republish(scan, producer: kafka.producerConfiguration, logger: logger, progress: ScanProgress())
            Console.line("re-published \(republished) command\(republished == 1 ? "" : "s") to \(kafka.commandsTopic)")
        }
        if count > 0 { throw ExitCode(1) }
        // Read from the beginning, replies naming commands never read: no proof (contract section 8).
        if let reason = report.unprovenReason {
            if format == .json { FileHandle.standardError.write(Data((reason + "\n").utf8)) }
            throw ExitCode(3)
        }
    }

    /// Whether to re-publish: asked on a terminal unless `--yes`.
    private static func confirmed(_ count: Int, to topic: String, ask: Bool) -> Bool {
        guard ask, Terminal.isInteractive else { return true }
        guard Terminal.confirm("Re-publish \(count) unanswered command\(count == 1 ? "" : "s") to \(topic)?") else {
            Console.line("nothing re-published")
            return false
        }
        return true
    }
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
