import Foundation
import Kafka
import Logging
import Provisioning
import ProvisioningContract
import ServiceLifecycle
import Synchronization
import Tracing

/// The provisioning worker: reads commands, runs them with key-ordered concurrency, publishes
/// each reply (and dead letter) and commits a command's offset only once they are acknowledged,
/// or, exactly once, in the same Kafka transaction as they are.
///
/// Wiring only: `WorkerStateMachine` decides, the jobs (`ProvisioningWorker+Jobs`) run
/// commands, `ReplyPublishing` publishes and commits. `run()` is one task group holding the
/// event loop, the committer, the publisher's delivery loop and every job; when it returns,
/// nothing it started runs any more, and only then are the Kafka clients closed.
public final class ProvisioningWorker: Sendable {
    let consumer: any CommandConsumer
    let publishing: any ReplyPublishing
    let processor: CommandProcessor
    let settings: WorkerSettings
    let logger: Logger
    let machine: Mutex<WorkerStateMachine>
    /// The process's tracer, looked up once (make the worker after bootstrapping tracing).
    let tracer: any Tracer
    /// Wakes parked jobs when their backoff is over, without a task sleeping for each.
    let wakeUps: any WakeUpScheduling = DispatchWakeUps()
    let healthState = Mutex(WorkerHealth())
    private let stopping = Atomic<Bool>(false)
    /// The status record's destination; nil publishes none (in-process tests).
    let statusReporting: WorkerStatusReporting?
    let startedAt = Date()
    /// The last statistics sample's consumer lag per partition, and the targets' tallies.
    let lags = Mutex<[KafkaTopicPartition: Int64]>([:])
    let tallies = Mutex<[String: TargetTally]>([:])
    /// Jobs to start as new tasks of `run()`'s group; finished after the final commit.
    let launches: AsyncStream<Job>
    let launch: AsyncStream<Job>.Continuation
    /// Work for the committer, which does every commit one after another.
    let requests: AsyncStream<CommitterRequest>
    let request: AsyncStream<CommitterRequest>.Continuation
    /// Set while an early commit is requested and not yet taken: requests coalesce.
    let commitRequested = Atomic<Bool>(false)
    /// Finished by `stop()`: ends the event loop.
    private let stopSignal: AsyncStream<Never>
    private let stopSignalled: AsyncStream<Never>.Continuation

    /// At least once: replies and dead letters through `producer`, offsets committed after them.
    public convenience init(
        consumer: KafkaConsumer, producer: KafkaProducer, processor: CommandProcessor, settings: WorkerSettings, status: WorkerStatusReporting? = nil,
        logger: Logger
    ) {
        self.init(
            consumer: consumer, publishing: Self.acknowledged(producer, logger: logger), processor: processor, settings: settings, status: status,
            logger: logger)
    }

    /// Exactly once: replies, dead letters and offsets in Kafka transactions, one per commit
    /// interval. `makeProducer` builds a producer with a `transactionalId`; it is called again
    /// to replace one that was fenced or failed fatally.
    public convenience init(
        consumer: KafkaConsumer, transactionalProducer makeProducer: @escaping @Sendable () throws(KafkaError) -> KafkaProducer,
        processor: CommandProcessor, settings: WorkerSettings, status: WorkerStatusReporting? = nil, logger: Logger
    ) {
        let publishing = TransactionalPublishing(consumer: consumer, logger: logger, makeProducer: makeProducer)
        self.init(consumer: consumer, publishing: publishing, processor: processor, settings: settings, status: status, logger: logger)
    }

    /// Any consumer and publishing mode: in-process tests, or a mode wrapped for a test cluster.
    public init(
        consumer: any CommandConsumer, publishing: any ReplyPublishing, processor: CommandProcessor, settings: WorkerSettings,
        status: WorkerStatusReporting? = nil, logger: Logger
    ) {
        self.consumer = consumer
        self.statusReporting = status
        self.publishing = publishing
        self.processor = processor
        self.settings = settings
        self.logger = logger
        self.machine = Mutex(WorkerStateMachine(limits: settings.limits))
        self.tracer = InstrumentationSystem.tracer
        (launches, launch) = AsyncStream.makeStream(of: Job.self)
        (requests, request) = AsyncStream.makeStream(of: CommitterRequest.self)
        (stopSignal, stopSignalled) = AsyncStream.makeStream(of: Never.self)
    }

    /// At-least-once publishing through any producer.
    public static func acknowledged(_ producer: any RecordProducer, logger: Logger) -> any ReplyPublishing {
        AcknowledgedPublishing(producer: producer, logger: logger)
    }

    /// The most commands that ran at once so far (for tests).
    @_spi(ForTesting) public var maxConcurrency: Int { machine.withLock { $0.maxRunning } }
    /// How often a partition was paused because too much of its work was queued (for tests).
    @_spi(ForTesting) public var partitionPauses: Int { machine.withLock { $0.pauses } }
    /// How often a record skipped ahead of the one expected (for tests).
    @_spi(ForTesting) public var gaps: Int { machine.withLock { $0.gaps } }
    /// In exactly-once mode: transactions committed and producers replaced so far (for tests).
    @_spi(ForTesting) public var transactionStatistics: (transactions: Int, producersRebuilt: Int)? {
        get async { await publishing.transactionStatistics }
    }
    /// The scheduler's queues in one line, for diagnosing a stall.
    public var schedulingSummary: String { machine.withLock { $0.summary } }
    /// Whether `stop()` was called.
    var isStopping: Bool { stopping.load(ordering: .acquiring) }
    /// Whether the worker can take commands now (for `/health/ready`).
    public var health: WorkerHealth { healthState.withLock { $0 } }

    /// Asks `run()` to stop reading, finish what runs, commit and return. Idempotent.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        healthState.withLock { $0.stopping = true }
        stopSignalled.finish()
        let deadline = ContinuousClock.now + settings.shutdownGracePeriod
        apply(machine.withLock { $0.stop(deadline: deadline) })
    }

    /// Runs until `stop()`; then drains within the shutdown grace period, commits and closes.
    public func runUntilStopped() async {
        WorkerMetrics.prepare(targets: processor.targets.keys)
        processor.prepareMetrics()
        await withDiscardingTaskGroup { group in
            group.addTask { await self.readEventsUntilStopped() }
            group.addTask { await self.runCommitter() }
            group.addTask { await self.tickPeriodically() }
            group.addTask { await self.publishing.run() }
            group.addTask { await self.reportStatusPeriodically() }
            if let statistics = consumer.lagStatistics {
                // librdkafka's statistics (with `statistics.interval.ms`) carry each partition's lag.
                group.addTask {
                    for await sample in statistics {
                        let lags = WorkerMetrics.lag(sample)
                        self.lags.withLock { $0 = lags }
                    }
                }
            }
            for await job in launches {
                group.addTask { await self.run(job) }
            }
            // The final commit is done: whatever still runs is past the grace period.
            group.cancelAll()
        }
        await consumer.close()
        await publishing.close()
        await reportStopped()
    }

    // MARK: Event loop

    private func readEventsUntilStopped() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.readEvents() }
            group.addTask { for await _ in self.stopSignal {} }
            await group.next()
            group.cancelAll()
        }
    }

    private func readEvents() async {
        while let event = await consumer.nextEvent(), !stopping.load(ordering: .acquiring) {
            healthState.withLock { $0.observe(event) }
            switch event {
            case .message(let message):
                WorkerMetrics.consumed.increment()
                let job = Job(message: message, key: Self.orderingKey(message), receivedAt: Date())
                apply(machine.withLock { $0.received(job) })
            case .partitionsAssigned(let partitions):
                WorkerMetrics.rebalance("assigned")
                WorkerMetrics.assigned(partitions)
                let starts = await startPositions(partitions)
                machine.withLock { $0.assigned(partitions, starts: starts) }
                logger.info("partitions assigned", metadata: ["count": "\(partitions.count)", "known starts": "\(starts.count)"])
            case .partitionsRevoked(let revocation):
                WorkerMetrics.rebalance(revocation.isLost ? "lost" : "revoked")
                let deadline = ContinuousClock.now + settings.revokeGracePeriod
                apply(machine.withLock { $0.revoked(revocation, deadline: deadline) })
            case .offsetsCommitted(let result):
                if let error = result.error { logger.warning("commit failed", metadata: ["error": "\(error)"]) }
            case .error(let error):
                logger.error("consumer error", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Where each assigned partition starts: the group's committed position, which the first
    /// record must match (else records were skipped). Unknown when the group has none (the
    /// first record sets it) or the coordinator does not answer.
    private func startPositions(_ partitions: [KafkaTopicPartition]) async -> [KafkaTopicPartition: Int64] {
        do {
            let committed = try await consumer.committed(partitions)
            return Dictionary(committed.filter { $0.offset >= 0 }.map { ($0.topicPartition, $0.offset) }) { first, _ in first }
        } catch {
            logger.notice("committed positions unknown; each partition's first record sets its start", metadata: ["error": "\(error)"])
            return [:]
        }
    }

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
