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
/// Wiring only: `WorkerStateMachine` decides (its `lifecycle` is the one place that says whether
/// the worker is stopping), the jobs (`ProvisioningWorker+Jobs`) run commands, `ReplyPublishing`
/// publishes and commits. `run()` runs one `ServiceGroup`: the consumer, the publishing mode
/// (which hosts its producers), the status producer and `WorkerCore`, the worker's own task group
/// (the event loop, the committer and every job). Its graceful shutdown reaches the core first,
/// which drains and makes the final commit; only then, in reverse order, are the producers
/// flushed and the consumer closed. Nothing started here outlives `run()`.
public final class ProvisioningWorker: Service, Sendable {
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
    /// What the consumer last said about the group and Kafka (whether the worker is stopping
    /// is the machine's).
    let healthState = Mutex(WorkerHealth())
    /// The status record's destination; nil publishes none (in-process tests).
    let statusReporting: WorkerStatusReporting?
    let startedAt = Date()
    /// The last statistics sample's consumer lag per partition, and the targets' tallies.
    let lags = Mutex<[KafkaTopicPartition: Int64]>([:])
    let tallies = Mutex<[String: TargetTally]>([:])
    /// Jobs to start as new tasks of the core's group; finished after the final commit.
    let launches: AsyncStream<Job>
    let launch: AsyncStream<Job>.Continuation
    /// Work for the committer, which does every commit one after another.
    let requests: AsyncStream<CommitterRequest>
    let request: AsyncStream<CommitterRequest>.Continuation
    /// Set while an early commit is requested and not yet taken: requests coalesce.
    let commitRequested = Atomic<Bool>(false)
    /// Finished by `stop()`: `run()` then shuts its group down gracefully.
    private let stopRequests: AsyncStream<Never>
    private let stopRequest: AsyncStream<Never>.Continuation

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
        let publishing = TransactionalPublishing(logger: logger, makeProducer: makeProducer)
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
        (stopRequests, stopRequest) = AsyncStream.makeStream(of: Never.self)
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
    /// Whether the worker is stopping (or has stopped).
    var isStopping: Bool { machine.withLock { $0.isStopping } }
    /// Whether the worker can take commands now (for `/health/ready`).
    public var health: WorkerHealth {
        var health = healthState.withLock { $0 }
        health.stopping = isStopping
        return health
    }

    /// Asks `run()` to stop: its group shuts down gracefully, as on SIGTERM. Idempotent; before
    /// `run()` too, which then stops at once.
    public func stop() {
        stopRequest.finish()
    }

    /// Runs the consumer, the publishing mode, the status producer and the worker's core as one
    /// group until `stop()` or the graceful shutdown of the group this runs in.
    public func run() async throws {
        WorkerMetrics.prepare(targets: processor.targets.keys)
        processor.prepareMetrics()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: consumer), .init(service: publishing)]
        if let statusReporting { services.append(.init(service: statusReporting.producer)) }
        // The core's end (after the final commit) shuts the others down, in reverse order.
        services.append(.init(service: WorkerCore(worker: self), successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask {
                for await _ in self.stopRequests {}
                await group.triggerGracefulShutdown()
            }
            // Ends the task above when the group ends by itself.
            defer { stopRequest.finish() }
            try await group.run()
        }
        logger.debug("worker stopped")
    }

    /// `run()` for callers that only wait for it (tests): an error ends it as a stop would, logged.
    public func runUntilStopped() async {
        do {
            try await run()
        } catch {
            logger.error("worker ended with an error", metadata: ["error": "\(error)"])
        }
    }

    /// The core's work: the event loop (until the core's graceful shutdown), the committer, the
    /// ticker, status records and every job, in one task group that ends after the final commit.
    func work() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await cancelWhenGracefulShutdown { await self.readEvents() } }
            group.addTask { await self.runCommitter() }
            group.addTask { await self.tickPeriodically() }
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
        reportStopped()
    }

    /// Reading stops: nothing new starts, what must run finishes within the shutdown grace
    /// period, then the final commit. From the core's graceful shutdown.
    func beginStop() {
        let deadline = ContinuousClock.now + settings.shutdownGracePeriod
        apply(machine.withLock { $0.stop(deadline: deadline) })
    }

    // MARK: Event loop

    private func readEvents() async {
        while let event = await consumer.nextEvent() {
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
            case .partitionEnd:
                break  // a group member does not ask for these (`enable.partition.eof` is off)
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

/// The worker's own work as the last service of its group: it reads, runs, publishes and
/// commits until its graceful shutdown, then drains and makes the final commit; its return shuts
/// the rest of the group down.
struct WorkerCore: Service {
    let worker: ProvisioningWorker

    func run() async {
        let worker = self.worker
        await withGracefulShutdownHandler {
            await worker.work()
        } onGracefulShutdown: {
            worker.beginStop()
        }
    }
}
