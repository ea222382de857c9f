import Kafka
import Logging
import ProvisioningContract

/// The proof of contract section 12: reads the replies, the dead letters and the commands (in
/// that order) without a consumer group, and finds each command's answer; can re-publish the
/// commands found without one. `provisioner reconcile` is this, with a terminal around it.
public struct Reconciler: Sendable {
    /// The outcome of one reconcile.
    public struct Scan: Sendable {
        public let reconciliation: Reconciliation
    }

    public let commands: KafkaTopicReader
    public let replies: KafkaTopicReader
    public let deadLetters: KafkaTopicReader

    public init(commands: KafkaTopicReader, replies: KafkaTopicReader, deadLetters: KafkaTopicReader) {
        self.commands = commands
        self.replies = replies
        self.deadLetters = deadLetters
    }

    /// Reconciles the commands written in `since..<until` (milliseconds since the epoch; nil:
    /// unbounded) and before `now`, the run's start. Commands younger than `grace` at `now` are
    /// pending rather than unanswered. Each topic is read to where the broker says it ends, not
    /// to a watermark alone (which a broker may report short); the commands last, so that every
    /// reply read names a command written before the commands are read to their end.
    public func reconcile(
        since: Int64? = nil, until: Int64? = nil, grace: Duration, now: Int64, progress: some ReconcileProgress = SilentProgress()
    ) async throws -> Scan {
        // Commands written after the run started are read (their replies are then known) but not
        // counted: "the commands topic up to its end at the start of the run".
        let before = min(until ?? .max, now + 1)
        var reconciliation = Reconciliation(commandsTopic: commands.topic, since: since, until: before, graceCutoff: now - grace.milliseconds)

        // The extents size the progress and the table of replies; the reads go to the ends.
        let replyRanges = try await replies.extent()
        reconciliation.expect(replies: replyRanges.total)
        progress.start(replies.topic, records: replyRanges.total)
        try await replies.read(from: .beginning) { message in
            reconciliation.reply(message)
            progress.advance()
        }
        progress.start(deadLetters.topic, records: try await deadLetters.extent().total)
        try await deadLetters.read(from: .beginning) { message in
            reconciliation.deadLetter(message)
            progress.advance()
        }
        progress.start(commands.topic, records: try await commands.extent().total)
        try await commands.read(from: .beginning) { message in
            reconciliation.command(message)
            progress.advance()
        }
        progress.done()
        reconciliation.finish()
        return Scan(reconciliation: reconciliation)
    }

    /// Reads the commands topic again and re-sends `scan`'s unanswered commands to it as they
    /// were (key, value and headers), each acknowledged before this returns their count.
    public func republish(
        _ scan: Scan, producer configuration: KafkaProducerConfiguration, logger: Logger, progress: some ReconcileProgress = SilentProgress()
    ) async throws -> Int {
        let unanswered = scan.reconciliation.unanswered
        guard !unanswered.isEmpty else { return 0 }
        var positions: [Int32: Set<Int64>] = [:]
        for command in unanswered { positions[command.partition, default: []].insert(command.offset) }
        let wanted = positions.mapValues { offsets in offsets.min()!..<(offsets.max()! + 1) }
        progress.start("re-publishing", records: Int64(unanswered.count))
        let topic = commands.topic
        let republished = try await KafkaProducer.with(configuration: configuration, logger: logger) { producer in
            var pending: [KafkaPendingDelivery] = []
            try await commands.read(wanted) { message in
                guard positions[message.partition]?.contains(message.offset) == true else { return }
                pending.append(try producer.submit(KafkaProducerMessage(topic: topic, key: message.key, value: message.value, headers: message.headers)))
            }
            for delivery in pending {
                _ = try await delivery.acknowledgement()
                progress.advance()
            }
            return pending.count
        }
        progress.done()
        return republished
    }
}

extension [Int32: Range<Int64>] {
    fileprivate var total: Int64 { values.reduce(0) { $0 + Int64($1.count) } }
}
