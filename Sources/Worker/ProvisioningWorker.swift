import Foundation
import Kafka
import Logging
import Provisioning
import ProvisioningContract
import ServiceLifecycle
import Synchronization
import Tracing

/// How a worker runs, beyond its Kafka clients.
public struct WorkerSettings: Sendable {
    public var repliesTopic: String
    public var deadLettersTopic: String
    public var groupId: String
    /// Commands running at once, across keys.
    public var maxInFlight: Int = 256
    /// Queued commands of one partition at which it is paused; it resumes at half. Kafka hands
    /// out a partition in order, so the other keys of a hot key's partition get past its backlog
    /// only as far as this reaches: the bound is mostly in bytes, what memory it costs.
    public var maxQueuedPerPartition: Int = 8192
    /// Bytes of queued commands (records and bookkeeping) of one partition at which it is paused.
    public var maxQueuedBytesPerPartition: Int = 4 << 20
    /// Bytes of queued commands of all partitions together at which the partition a record
    /// arrives on is paused: a worker owning many partitions stays within its memory.
    public var maxQueuedBytes: Int = 32 << 20
    public var commitInterval: Duration = .seconds(1)
    /// Commands of one partition that may start past the group's last acknowledged commit: at
    /// most what the partition's next owner repeats if this worker dies or is fenced. At half of
    /// it the worker commits early; at all of it new commands wait until a commit lands.
    /// Default: twice `maxInFlight`.
    public var maxUncommittedPerPartition: Int?
    /// How long work may wait at that bound for a commit to land; then it goes on regardless.
    public var maxCommitWait: Duration = .seconds(30)
    /// How long a revocation waits for the revoked partitions' running commands.
    public var revokeGracePeriod: Duration = .seconds(10)
    public var shutdownGracePeriod: Duration = .seconds(30)
    /// `host/pid`, in replies and dead letters.
    public var workerId: String

    public init(repliesTopic: String, deadLettersTopic: String, groupId: String, workerId: String) {
        self.repliesTopic = repliesTopic
        self.deadLettersTopic = deadLettersTopic
        self.groupId = groupId
        self.workerId = workerId
    }
}

/// The provisioning worker: reads commands, runs them with key-ordered concurrency, publishes
/// each reply (and dead letter) and commits a command's offset only once they are acknowledged,
/// or, exactly once, in the same Kafka transaction as they are.
public final class ProvisioningWorker: Sendable {
    /// How replies and dead letters reach Kafka.
    private enum Publishing {
        /// Each is sent and acknowledged before its command's offset may be committed.
        case acknowledged(KafkaProducer)
        /// They wait in the outbox and commit with the offsets that cover them.
        case transactional(TransactionalOutbox)
    }

    private let consumer: KafkaConsumer
    private let publishing: Publishing
    private let processor: CommandProcessor
    private let settings: WorkerSettings
    private let logger: Logger
    private let scheduler: WorkScheduler
    private let stopping = Atomic<Bool>(false)
    private let healthState = Mutex(WorkerHealth())
    private let eventLoop = Mutex<Task<Void, Never>?>(nil)
    /// Jobs whose records Kafka acknowledged, for the scheduler.
    private let acknowledgements: AsyncStream<Job>
    private let acknowledged: AsyncStream<Job>.Continuation
    /// Wakes the committer before its next tick; requests made meanwhile coalesce.
    private let commitRequests: AsyncStream<Void>
    private let commitRequested: AsyncStream<Void>.Continuation

    /// At least once: replies and dead letters through `producer`, offsets committed after them.
    public convenience init(consumer: KafkaConsumer, producer: KafkaProducer, processor: CommandProcessor, settings: WorkerSettings, logger: Logger) {
        self.init(consumer: consumer, publishing: .acknowledged(producer), processor: processor, settings: settings, logger: logger)
    }

    /// Exactly once: replies, dead letters and offsets in Kafka transactions, one per commit
    /// interval. `makeProducer` builds a producer with a `transactionalId`; it is called again
    /// to replace one that was fenced or failed fatally.
    public convenience init(
        consumer: KafkaConsumer, transactionalProducer makeProducer: @escaping @Sendable () throws(KafkaError) -> KafkaProducer,
        processor: CommandProcessor, settings: WorkerSettings, logger: Logger
    ) {
        let outbox = TransactionalOutbox(consumer: consumer, logger: logger, makeProducer: makeProducer)
        self.init(consumer: consumer, publishing: .transactional(outbox), processor: processor, settings: settings, logger: logger)
    }

    private init(consumer: KafkaConsumer, publishing: Publishing, processor: CommandProcessor, settings: WorkerSettings, logger: Logger) {
        self.consumer = consumer
        self.publishing = publishing
        self.processor = processor
        self.settings = settings
        self.logger = logger
        self.scheduler = WorkScheduler(
            maxInFlight: settings.maxInFlight, maxQueuedPerPartition: settings.maxQueuedPerPartition,
            maxQueuedBytesPerPartition: settings.maxQueuedBytesPerPartition, maxQueuedBytes: settings.maxQueuedBytes,
            maxUncommittedPerPartition: settings.maxUncommittedPerPartition ?? 2 * settings.maxInFlight
        )
        (commitRequests, commitRequested) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (acknowledgements, acknowledged) = AsyncStream.makeStream(of: Job.self)
    }

    /// The most commands that ran at once so far.
    public var maxConcurrency: Int {
        get async { await scheduler.maxRunning }
    }

    /// How often a partition was paused because too much of its work was queued.
    public var partitionPauses: Int {
        get async { await scheduler.pauses }
    }

    /// In exactly-once mode: transactions committed and producers replaced so far.
    public var transactionStatistics: (transactions: Int, producersRebuilt: Int)? {
        get async {
            guard case .transactional(let outbox) = publishing else { return nil }
            return (await outbox.transactions, await outbox.producersRebuilt)
        }
    }

    /// The scheduler's queues in one line, for diagnosing a stall.
    public var schedulingSummary: String {
        get async { await scheduler.summary }
    }

    /// Whether the worker can take commands now (for `/health/ready`).
    public var health: WorkerHealth { healthState.withLock { $0 } }

    /// Asks `run()` to stop reading, finish what runs, commit and return.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        healthState.withLock { $0.stopping = true }
        // Wakes the event loop if it waits for the next record.
        eventLoop.withLock { $0 }?.cancel()
    }

    /// Runs until `stop()`; then drains within the shutdown grace period, commits and closes.
    public func runUntilStopped() async {
        let committer = Task { await commitPeriodically() }
        // Runs until the shutdown has drained every acknowledgement.
        let acknowledging = Task {
            for await job in acknowledgements { await carryOut(await scheduler.acknowledged(job)) }
        }
        // librdkafka's statistics (with `statistics.interval.ms`) carry each partition's lag.
        let statistics = Task { [consumer] in
            for await sample in consumer.statistics { WorkerMetrics.lag(sample) }
        }
        defer { statistics.cancel() }
        let loop = Task { await readEvents() }
        eventLoop.withLock { $0 = loop }
        if stopping.load(ordering: .acquiring) { loop.cancel() }
        await loop.value
        // A periodic commit still under way must land before the final one is taken.
        committer.cancel()
        await committer.value
        await shutDown()
        acknowledged.finish()
        await acknowledging.value
    }

    private func readEvents() async {
        for await event in consumer.events {
            if stopping.load(ordering: .acquiring) { break }
            healthState.withLock { $0.observe(event) }
            switch event {
            case .message(let message):
                WorkerMetrics.consumed.increment()
                let job = Job(message: message, key: Self.orderingKey(message), receivedAt: Date())
                let decisions = await scheduler.accept(job)
                if decisions.firstOfPartition {
                    // Where each assignment starts: a start past the committed offset would skip records.
                    logger.debug("first record since assignment", metadata: ["partition": "\(job.partition)", "offset": "\(message.offset)"])
                }
                await carryOut(decisions)
            case .partitionsAssigned(let partitions):
                WorkerMetrics.rebalance("assigned")
                logger.info("partitions assigned", metadata: ["count": "\(partitions.count)"])
            case .partitionsRevoked(let revocation):
                WorkerMetrics.rebalance(revocation.isLost ? "lost" : "revoked")
                await handOver(revocation)
            case .offsetsCommitted(let result):
                if let error = result.error { logger.warning("commit failed", metadata: ["error": "\(error)"]) }
            case .error(let error):
                logger.error("consumer error", metadata: ["error": "\(error)"])
            }
            if stopping.load(ordering: .acquiring) { break }
        }
    }

    // MARK: Steps

    /// Records with a key are ordered by it; records without one by `<target>:<user>` from the body.
    static func orderingKey(_ message: KafkaConsumerMessage) -> String {
        let key: String
        if let raw = message.key {
            key = String(decoding: raw, as: UTF8.self)
        } else if case .success(let command) = CommandDecoder.decode(message.value) {
            key = command.derivedKey
        } else {
            key = "offset:\(message.offset)"
        }
        return "\(message.partition)|\(key)"
    }

    private func carryOut(_ decisions: WorkScheduler.Decisions) async {
        for job in decisions.start {
            Task { await self.execute(job) }
        }
        if !decisions.pause.isEmpty {
            logger.debug("pausing partitions with too much queued work", metadata: ["partitions": "\(decisions.pause)"])
            try? await consumer.pause(decisions.pause)
        }
        if !decisions.resume.isEmpty {
            try? await consumer.resume(decisions.resume)
        }
        if !decisions.commitSoon.isEmpty {
            commitRequested.yield()
        }
    }

    private func execute(_ job: Job) async {
        let span = job.span ?? InstrumentationSystem.commandSpan(for: job.message)
        WorkerMetrics.inFlight.increment()
        let step = await ServiceContext.withValue(span.context) {
            await processor.step(job.message.value, receivedAt: job.receivedAt, progress: job.progress)
        }
        WorkerMetrics.inFlight.decrement()
        switch step {
        case .finished(let result):
            WorkerMetrics.reply(result.reply)
            if let error = result.deadLetter { WorkerMetrics.deadLetter(error.category) }
            logFinished(result)
            span.attributes["provisioning.status"] = result.reply.status.rawValue
            if let error = result.reply.error {
                span.attributes["provisioning.error.category"] = error.category.rawValue
                span.setStatus(SpanStatus(code: .error, message: error.category.rawValue))
            }
            let records = self.records(for: result, of: job, trace: span.context)
            span.end()
            switch publishing {
            case .acknowledged(let producer):
                var deliveries: [(KafkaProducerMessage, KafkaPendingDelivery)] = []
                for record in records {
                    if let delivery = await queue(record, with: producer, commandId: result.reply.commandId) { deliveries.append((record, delivery)) }
                }
                // The reply is queued behind the key's earlier ones and Kafka writes them in that
                // order: the key's next command may start now, its offset waits for the acknowledgement.
                await carryOut(await scheduler.handedOff(job))
                awaitAcknowledgements(deliveries, of: job, with: producer, commandId: result.reply.commandId)
            case .transactional(let outbox):
                await outbox.add(records, partition: job.partition, offset: job.message.offset)
                await carryOut(await scheduler.complete(job))
            }
        case .retry(let delay, let progress):
            if let failure = progress.lastFailure, progress.attempts > (job.progress?.attempts ?? 0) {
                var metadata = CommandIdentity(progress.command).metadata
                metadata["attempt"] = "\(progress.attempts)"
                metadata["retryIn"] = "\(delay)"
                metadata["category"] = "\(failure.error.category.rawValue)"
                metadata["reason"] = "\(Redaction.scrub(failure.error.message, knownSecrets: progress.command.secretValues))"
                logger.info("vendor call failed; retrying", metadata: metadata)
            }
            // The command waits without a slot; only its own key waits with it.
            let next = job.advanced(to: progress, span: span)
            await carryOut(await scheduler.park(next))
            Task {
                try? await Task.sleep(for: delay)
                await self.carryOut(await self.scheduler.wake(next))
            }
        }
    }

    /// One line per command: succeeded at info, failed at notice, dead-lettered at warning.
    /// The metadata is built only when the line is written: this runs for every command.
    private func logFinished(_ result: CommandProcessor.Result) {
        let reply = result.reply
        let level: Logger.Level = reply.error == nil ? .info : result.deadLetter == nil ? .notice : .warning
        guard logger.logLevel <= level else { return }
        var metadata = CommandIdentity(reply).metadata
        metadata["status"] = "\(reply.status.rawValue)"
        metadata["attempts"] = "\(reply.attempts)"
        metadata["durationMs"] = "\(reply.durationMs)"
        if let vendorUserId = reply.vendorUserId { metadata["vendorUserId"] = "\(vendorUserId)" }
        if let error = reply.error {
            metadata["category"] = "\(error.category.rawValue)"
            metadata["code"] = "\(error.code)"
            metadata["reason"] = "\(error.message)"
        }
        let message: Logger.Message = switch level {
        case .info: "command succeeded"
        case .notice: "command failed"
        default: "command failed; dead-lettered"
        }
        logger.log(level: level, message, metadata: metadata)
    }

    /// The reply and, if the command failed for good, its dead letter.
    private func records(for result: CommandProcessor.Result, of job: Job, trace: ServiceContext) -> [KafkaProducerMessage] {
        var records: [KafkaProducerMessage] = []
        let replyKey = job.message.key ?? result.command.map { Array($0.derivedKey.utf8) }
        do {
            var headers = result.reply.headers().map { KafkaHeader(key: $0.key, value: $0.value) }
            // The reply continues the command's trace: same trace id, the worker's span as parent.
            InstrumentationSystem.tracer.inject(trace, into: &headers, using: KafkaHeadersInjector())
            records.append(KafkaProducerMessage(topic: settings.repliesTopic, key: replyKey, value: try result.reply.encoded(), headers: headers))
        } catch {
            logger.error("cannot encode reply", metadata: ["commandId": "\(result.reply.commandId ?? "")", "error": "\(error)"])
        }
        if let error = result.deadLetter {
            let headers = DeadLetterHeaders(
                originalTopic: job.message.topic, originalPartition: job.message.partition, originalOffset: job.message.offset,
                originalTimestamp: job.message.timestampMilliseconds, consumerGroup: settings.groupId, error: error,
                attempts: result.reply.attempts, failedAt: result.reply.completedAt, worker: settings.workerId
            )
            records.append(KafkaProducerMessage(
                topic: settings.deadLettersTopic, key: job.message.key, value: job.message.value,
                headers: job.message.headers + headers.all.map { KafkaHeader(key: $0.key, value: $0.value) }
            ))
        }
        return records
    }

    /// Queues the record in the producer, waiting while its queue is full or Kafka is out of
    /// reach. Nil when it cannot be published: the producer is closed, or retrying cannot help
    /// (e.g. a record over the broker's size limit; holding the partition forever would stop
    /// every other key on it), which is logged.
    private func queue(_ record: KafkaProducerMessage, with producer: KafkaProducer, commandId: String?) async -> KafkaPendingDelivery? {
        var delay = Duration.milliseconds(10)
        while true {
            do {
                return try producer.submit(record)
            } catch {
                guard publishFailureIsTemporary(error, record: record, commandId: commandId) else { return nil }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Tells the scheduler when Kafka has every record of the job, without a task per job: the
    /// deliveries call back, and one loop (`acknowledgements`) takes them to the scheduler.
    private func awaitAcknowledgements(_ deliveries: [(KafkaProducerMessage, KafkaPendingDelivery)], of job: Job, with producer: KafkaProducer, commandId: String?) {
        guard !deliveries.isEmpty else {
            acknowledged.yield(job)
            return
        }
        let remaining = Countdown(deliveries.count)
        let acknowledged = self.acknowledged
        for (record, delivery) in deliveries {
            delivery.whenAcknowledged { outcome in
                if case .failure = outcome {
                    // Rare: librdkafka gave up after its own retries. Publish again, in a task.
                    Task {
                        await self.acknowledge(delivery, of: record, with: producer, commandId: commandId)
                        if remaining.done() { acknowledged.yield(job) }
                    }
                } else if remaining.done() {
                    acknowledged.yield(job)
                }
            }
        }
    }

    /// Waits for the acknowledgement; a record librdkafka gave up on (after its own retries, for
    /// `message.timeout.ms`) is queued again until Kafka has it. The offset must not be committed
    /// before. Only then can a key's replies land out of order: the next one was queued meanwhile.
    private func acknowledge(_ delivery: KafkaPendingDelivery, of record: KafkaProducerMessage, with producer: KafkaProducer, commandId: String?) async {
        var delivery = delivery
        var delay = Duration.milliseconds(100)
        while true {
            do {
                try await delivery.acknowledgement()
                return
            } catch {
                guard publishFailureIsTemporary(error, record: record, commandId: commandId) else { return }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
                guard let again = await queue(record, with: producer, commandId: commandId) else { return }
                delivery = again
            }
        }
    }

    private func publishFailureIsTemporary(_ error: KafkaError, record: KafkaProducerMessage, commandId: String?) -> Bool {
        if error.code == .destroyed { return false }
        if error.code == .queueFull { return true }
        guard error.isRetriable else {
            logger.critical("publish failed for good; the command's reply or dead letter is lost", metadata: ["topic": "\(record.topic)", "commandId": "\(commandId ?? "")", "error": "\(error)"])
            return false
        }
        logger.error("publish failed, retrying", metadata: ["topic": "\(record.topic)", "commandId": "\(commandId ?? "")", "error": "\(error)"])
        return true
    }

    /// Before partitions leave: start nothing that need not run, let the rest finish within the
    /// grace period, commit what is done, then let them go.
    private func handOver(_ revocation: KafkaPartitionRevocation) async {
        let partitions = Set(revocation.partitions)
        let began = ContinuousClock.now
        await scheduler.dropQueued(partitions)
        if !(await scheduler.drain(partitions, timeout: settings.revokeGracePeriod)) {
            logger.warning("revoked partitions still had running commands after the grace period", metadata: ["partitions": "\(partitions.sorted())"])
        }
        if !revocation.isLost { await commit(partitions) }
        await scheduler.forget(partitions)
        if case .transactional(let outbox) = publishing { await outbox.drop(partitions) }
        revocation.complete()
        // The group waits for this: on the embedded cluster, longer than about a session timeout
        // and the member is dropped from the group.
        logger.info("partitions handed over", metadata: ["partitions": "\(partitions.count)", "lost": "\(revocation.isLost)", "took": "\(ContinuousClock.now - began)"])
    }

    /// Reading has stopped. Queued commands that need not run are dropped; the rest (running, or
    /// below one that ran) finish within the grace period, so the commit covers all that ran.
    private func shutDown() async {
        await scheduler.dropQueued(consumer.assignment)
        if !(await scheduler.drain(nil, timeout: settings.shutdownGracePeriod)) {
            logger.warning("commands still queued or running after the shutdown grace period; they run again after restart")
        }
        await commit(nil)
        await consumer.close()
        switch publishing {
        case .acknowledged(let producer): await producer.close()
        case .transactional(let outbox): await outbox.close()
        }
    }

    /// Commits every `commitInterval`, and sooner when a partition's uncommitted work grows.
    private func commitPeriodically() async {
        let interval = settings.commitInterval
        // The ticker runs apart from the commits, so that a commit call that never returns
        // cannot hold work back for good.
        let ticker = Task { [commitRequested] in
            while (try? await Task.sleep(for: interval)) != nil {
                commitRequested.yield()
                let (decisions, released) = await scheduler.releaseHolds(olderThan: settings.maxCommitWait)
                if !released.isEmpty {
                    logger.warning("no commit accepted for a while: going on past the uncommitted bound", metadata: [
                        "partitions": "\(released.map(\.description).sorted())", "waited": "\(settings.maxCommitWait)",
                    ])
                    await carryOut(decisions)
                }
            }
        }
        defer { ticker.cancel() }
        for await _ in commitRequests {
            if Task.isCancelled { return }
            await commit(nil)
            await probeKafkaIfDown()
        }
    }

    /// While Kafka is reported out of reach, asks it something cheap to notice its return even
    /// when no command arrives.
    private func probeKafkaIfDown() async {
        guard healthState.withLock({ $0.kafkaProblem != nil }), let topic = consumer.configuration.topics.first else { return }
        if (try? await consumer.watermarks(KafkaTopicPartition(topic: topic, partition: 0), timeout: .seconds(1))) != nil {
            healthState.withLock { $0.kafkaAnswered() }
        }
    }

    private func commit(_ partitions: Set<KafkaTopicPartition>?) async {
        let offsets = await scheduler.takeCommits(partitions)
        guard !offsets.isEmpty else { return }
        let started = ContinuousClock.now
        do {
            switch publishing {
            case .acknowledged:
                try await consumer.commit(offsets)
            case .transactional(let outbox):
                try await outbox.commit(offsets)
                // Apache Kafka has the offsets from the transaction already; the embedded cluster
                // (librdkafka 2.0.2's mock) drops transactional offsets, so commit them plainly too.
                try? await consumer.commit(offsets)
            }
            logger.debug("committed", metadata: ["offsets": "\(offsets.map { "\($0.topicPartition)@\($0.offset)" }.sorted())"])
            healthState.withLock { $0.kafkaAnswered() }
            WorkerMetrics.commit(ContinuousClock.now - started)
            await carryOut(await scheduler.committed(offsets))
        } catch {
            WorkerMetrics.commitFailures.increment()
            // Normal during a rebalance; the offsets are tried again (or redelivered elsewhere).
            logger.info("commit refused", metadata: ["error": "\(error)"])
            await scheduler.commitFailed(offsets)
        }
    }
}

/// In a `ServiceGroup`, SIGTERM or SIGINT start the graceful stop.
extension ProvisioningWorker: Service {
    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.runUntilStopped()
        } onGracefulShutdown: {
            self.stop()
        }
    }
}

/// Counts a job's records down to their last acknowledgement.
private final class Countdown: Sendable {
    private let left: Atomic<Int>

    init(_ count: Int) { left = Atomic(count) }

    /// One more is done; true for the last.
    func done() -> Bool { left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
}
