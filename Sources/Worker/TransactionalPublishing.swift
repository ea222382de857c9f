import Kafka
import Logging
import ServiceLifecycle

/// Exactly-once publishing (`worker.exactlyOnce`): a command's reply and dead letter wait here
/// until every command before it in its partition is done, then go out in one Kafka transaction
/// together with the consumer offsets that cover them. A `read_committed` reader then sees a
/// command's reply exactly when its offset is committed: after a crash, a command either has
/// its reply and offset, or neither and runs again.
///
/// Commands finish out of order, but offsets only say "everything below": records of a command
/// above one still running stay for a later transaction. A fenced or otherwise fatal producer is
/// replaced by a new one with the same transactional id; records stay until a transaction holding
/// them commits, so nothing is lost on the way.
actor TransactionalPublishing: ReplyPublishing {
    private let makeProducer: @Sendable () throws(KafkaError) -> KafkaProducer
    private let logger: Logger
    /// The producer transactions go through; only the committer's calls (`prepare`, `commit`)
    /// make, use or replace it, one at a time, so no transaction ever overlaps another.
    private var producer: KafkaProducer?
    /// Producers made, for `run()` to host.
    private let made: AsyncStream<KafkaProducer>
    private let madeContinuation: AsyncStream<KafkaProducer>.Continuation
    /// Records per partition and offset, waiting for their transaction.
    private var pending: [KafkaTopicPartition: [Int64: [KafkaProducerMessage]]] = [:]
    /// Transactions committed and producers rebuilt, for tests and metrics.
    private(set) var transactions = 0
    private(set) var producersRebuilt = 0
    /// Producers registered with their coordinator (`initTransactions` answered), for tests.
    private(set) var registrations = 0

    init(logger: Logger, makeProducer: @escaping @Sendable () throws(KafkaError) -> KafkaProducer) {
        self.logger = logger
        self.makeProducer = makeProducer
        (made, madeContinuation) = AsyncStream.makeStream(of: KafkaProducer.self)
    }

    /// Keeps a finished command's records until its offset is committed: in the outbox, the
    /// offset may be committed at once, as the transaction carries both.
    func publish(_ records: [KafkaProducerMessage], of partition: KafkaTopicPartition, at offset: Int64, acknowledged: @escaping @Sendable () -> Void) {
        pending[partition, default: [:]][offset] = records
        acknowledged()
    }

    /// Hosts every producer made (the current one, and a replaced one while it closes) until
    /// the graceful shutdown, which each of them answers by closing.
    func run() async throws {
        let (made, madeContinuation) = (self.made, self.madeContinuation)
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await producer in made {
                    group.addTask { try? await producer.run() }
                }
            } onGracefulShutdown: {
                madeContinuation.finish()
            }
        }
    }

    /// Registers the transactional id at start-up rather than at the first commit: a replacement
    /// started in place fences its predecessor (ending the wait on the transaction that one left
    /// open) before it has anything to commit, and a refused registration shows at once. A failure
    /// here is not fatal: the first commit registers again.
    func prepare() async {
        do {
            _ = try await readyProducer()
        } catch {
            logger.warning("transactional producer not registered at start-up; the first commit tries again", metadata: ["error": "\(error)"])
        }
    }

    var transactionStatistics: (transactions: Int, producersRebuilt: Int)? { (transactions, producersRebuilt) }

    /// Forgets the records of partitions this worker no longer owns: their commands were not
    /// committed, so the next owner runs them again and publishes their replies.
    func drop(_ partitions: Set<KafkaTopicPartition>) {
        for partition in partitions { pending[partition] = nil }
    }

    /// Commits `offsets` (the next offset to read, per partition) in one transaction with the
    /// records of every command below them; the offsets are committed only there. On failure
    /// the transaction is aborted (or the producer rebuilt) and the records stay for the next attempt.
    func commit(_ offsets: [KafkaTopicPartitionOffset], consumer: any CommandConsumer) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        // The offsets go into the transaction with the group's metadata, which only a Kafka
        // consumer has.
        guard let consumer = consumer as? KafkaConsumer else {
            throw KafkaError(code: .state, message: "exactly-once publishing needs the worker's consumer to be a KafkaConsumer")
        }
        let producer = try await readyProducer()
        var records: [KafkaProducerMessage] = []
        for offset in offsets {
            let waiting = pending[offset.topicPartition] ?? [:]
            for key in waiting.keys.sorted() where key < offset.offset {
                records.append(contentsOf: waiting[key] ?? [])
            }
        }
        do {
            try await producer.beginTransaction()
            try await Self.send(records, with: producer)
            try await producer.sendOffsetsToTransaction(offsets, consumer: consumer)
            try await producer.commitTransaction()
        } catch {
            await recover(from: error, producer: producer)
            throw error
        }
        for offset in offsets {
            pending[offset.topicPartition] = pending[offset.topicPartition]?.filter { $0.key >= offset.offset }
        }
        transactions += 1
    }

    // MARK: Steps

    /// The producer, made and registered with its transaction coordinator on first use (which
    /// also fences a previous instance with the same transactional id and aborts what it left open).
    private func readyProducer() async throws(KafkaError) -> KafkaProducer {
        if let producer { return producer }
        let made = try makeProducer()
        madeContinuation.yield(made)
        do {
            try await made.initTransactions()
        } catch {
            made.triggerGracefulShutdown()
            throw error
        }
        producer = made
        registrations += 1
        return made
    }

    private static func send(_ records: [KafkaProducerMessage], with producer: KafkaProducer) async throws(KafkaError) {
        let outcome = await withTaskGroup(of: KafkaError?.self) { group in
            for record in records {
                group.addTask { await Self.deliveryError(record, producer) }
            }
            var first: KafkaError?
            for await error in group where first == nil { first = error }
            return first
        }
        if let outcome { throw outcome }
    }

    private static func deliveryError(_ record: KafkaProducerMessage, _ producer: KafkaProducer) async -> KafkaError? {
        do throws(KafkaError) {
            _ = try await producer.send(record)
            return nil
        } catch {
            return error
        }
    }

    /// After a failed transaction: abort it if the producer survives, otherwise replace the
    /// producer (the new one fences the old and aborts whatever it left open).
    private func recover(from error: KafkaError, producer: KafkaProducer) async {
        if !error.isFatal {
            do {
                try await producer.abortTransaction()
                logger.warning("transaction aborted; its records are sent again", metadata: ["error": "\(error)"])
                return
            } catch {
                logger.warning("abort failed; rebuilding the producer", metadata: ["error": "\(error)"])
            }
        }
        logger.error("transactional producer unusable; rebuilding it", metadata: ["error": "\(error)"])
        self.producer = nil
        producersRebuilt += 1
        producer.triggerGracefulShutdown()
    }
}
