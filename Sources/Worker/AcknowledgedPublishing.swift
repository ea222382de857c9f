import Kafka
import Logging
import ServiceLifecycle
import Synchronization

/// At least once: each record is queued in an idempotent producer, and a command's offset may
/// be committed once Kafka acknowledged all of its records. A record librdkafka gives up on
/// (after its own retries, for `message.timeout.ms`) is queued again until Kafka has it; only
/// then can a key's replies land out of order, as the key's next one was queued meanwhile.
final class AcknowledgedPublishing: ReplyPublishing {
    private let producer: any RecordProducer
    private let logger: Logger
    /// Records to queue again, from delivery callbacks to `run()`.
    private let retries: AsyncStream<Retry>
    private let retry: AsyncStream<Retry>.Continuation

    private struct Retry: Sendable {
        let record: KafkaProducerMessage
        let remaining: Countdown
        let acknowledged: @Sendable () -> Void
    }

    init(producer: any RecordProducer, logger: Logger) {
        self.producer = producer
        self.logger = logger
        (retries, retry) = AsyncStream.makeStream(of: Retry.self)
    }

    func publish(_ records: [KafkaProducerMessage], of partition: KafkaTopicPartition, at offset: Int64, acknowledged: @escaping @Sendable () -> Void) async {
        var deliveries: [(KafkaProducerMessage, KafkaPendingDelivery)] = []
        deliveries.reserveCapacity(records.count)
        for record in records {
            if let delivery = await queue(record) { deliveries.append((record, delivery)) }
        }
        guard !deliveries.isEmpty else { return acknowledged() }
        let remaining = Countdown(deliveries.count)
        for (record, delivery) in deliveries {
            watch(delivery, of: record, remaining: remaining, acknowledged: acknowledged)
        }
    }

    /// Runs on librdkafka's delivery thread: short, never blocking.
    private func watch(_ delivery: KafkaPendingDelivery, of record: KafkaProducerMessage, remaining: Countdown, acknowledged: @escaping @Sendable () -> Void) {
        delivery.whenAcknowledged { [retry, logger] outcome in
            if case .failure(let error) = outcome, Self.isTemporary(error, record: record, logger: logger) {
                retry.yield(Retry(record: record, remaining: remaining, acknowledged: acknowledged))
            } else if remaining.done() {
                acknowledged()
            }
        }
    }

    /// Runs the producer, and queues given-up records again until the graceful shutdown, which
    /// the producer (inheriting it) answers by delivering what is queued and closing.
    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.producer.run() }
            group.addTask { await cancelWhenGracefulShutdown { await self.republish() } }
        }
    }

    func prepare() async {}

    /// Queues given-up records again, one after another with a growing pause while they fail.
    private func republish() async {
        var delay = Duration.milliseconds(100)
        for await item in retries {
            if Task.isCancelled { break }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
            if let delivery = await queue(item.record) {
                watch(delivery, of: item.record, remaining: item.remaining, acknowledged: item.acknowledged)
                delay = .milliseconds(100)
            } else if item.remaining.done() {
                item.acknowledged()
            }
        }
    }

    func commit(_ offsets: [KafkaTopicPartitionOffset], consumer: any CommandConsumer) async throws(KafkaError) {
        try await consumer.commit(offsets)
    }

    func drop(_ partitions: Set<KafkaTopicPartition>) async {}

    var transactionStatistics: (transactions: Int, producersRebuilt: Int)? { nil }

    /// Queues the record, waiting while the producer's queue is full or Kafka is out of reach.
    /// Nil when it cannot be published: the producer is closed, or retrying cannot help (a
    /// record over the broker's size limit, say: holding the partition forever would stop every
    /// other key on it), which is logged.
    private func queue(_ record: KafkaProducerMessage) async -> KafkaPendingDelivery? {
        var delay = Duration.milliseconds(10)
        while true {
            do {
                return try producer.submit(record)
            } catch {
                guard Self.isTemporary(error, record: record, logger: logger) else { return nil }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    private static func isTemporary(_ error: KafkaError, record: KafkaProducerMessage, logger: Logger) -> Bool {
        if error.code == .destroyed { return false }
        if error.code == .queueFull { return true }
        let commandId = record.headers.string("commandId") ?? ""
        guard error.isRetriable else {
            logger.critical(
                "publish failed for good; the command's reply or dead letter is lost",
                metadata: ["topic": "\(record.topic)", "commandId": "\(commandId)", "error": "\(error)"])
            return false
        }
        logger.error("publish failed, retrying", metadata: ["topic": "\(record.topic)", "commandId": "\(commandId)", "error": "\(error)"])
        return true
    }
}

/// Counts a command's records down to their last acknowledgement.
final class Countdown: Sendable {
    private let left: Atomic<Int>

    init(_ count: Int) { left = Atomic(count) }

    /// One more is done; true for the last.
    func done() -> Bool { left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
}
