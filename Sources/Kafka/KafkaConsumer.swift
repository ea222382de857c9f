import CRdKafka
import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// A member of a consumer group that yields messages and rebalances as one ordered sequence,
/// and commits exactly the offsets its caller chooses; or, `groupless`, a reader of the
/// partitions its caller assigns.
///
/// A `Service`, as in swift-kafka-client: making one has no side effect beyond librdkafka's
/// handle (no subscription, no thread); `run()` subscribes, polls on a thread of its own and,
/// once shut down (`triggerGracefulShutdown()`, its group's graceful shutdown, or cancellation),
/// leaves the group and releases the client before it returns. For one-shot use, `with` runs
/// one around a body.
///
/// Nothing is committed automatically: the caller commits (`commit`, `commitAsync`) or stores
/// offsets for librdkafka's periodic commit (`storeOffsets`, with `enable.auto.commit=true`).
/// A revocation is delivered before the partitions are released and holds them until
/// `KafkaPartitionRevocation.complete()`, so in-flight work can be finished and committed first.
public final class KafkaConsumer: KafkaClient, Sendable {
    /// Messages, rebalances and commit results, in order, from `run()` on; they end when the
    /// consumer has shut down. Iterate from one task only.
    public let events: KafkaConsumerEvents
    /// librdkafka statistics samples, when `statistics.interval.ms` is set; the newest is kept.
    public let statistics: AsyncStream<KafkaStatistics>
    public let configuration: KafkaConsumerConfiguration

    private let client: RDKafkaClient
    private let core: ConsumerCore

    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws(KafkaError) {
        guard !configuration.joinsGroup || !configuration.topics.isEmpty else { throw KafkaError.client("a consumer needs at least one topic") }
        let (statistics, statisticsContinuation) = AsyncStream.makeStream(of: KafkaStatistics.self, bufferingPolicy: .bufferingNewest(1))
        let core = ConsumerCore(configuration: configuration, logger: logger)
        let callbacks = RDKafkaCallbacks(
            logger: logger,
            statistics: statisticsContinuation,
            onRebalance: { rk, err, list in core.rebalance(rk, err, list) },
            onError: { error in core.report(error) },
            onCommit: { result in core.channel.push(.offsetsCommitted(result)) }
        )
        let client = try RDKafkaClient(kind: .consumer, properties: configuration.librdkafkaProperties, callbacks: callbacks)
        rd_kafka_poll_set_consumer(client.handle.pointer)
        core.attach(client.handle)
        self.client = client
        self.core = core
        self.configuration = configuration
        self.events = KafkaConsumerEvents(channel: core.channel)
        self.statistics = statistics
    }

    /// Runs `body` with a running consumer, which is shut down (leaving its group) when `body`
    /// returns or throws, before this returns: the form for one-shot use.
    public static func with<T>(
        configuration: KafkaConsumerConfiguration, logger: Logger, _ body: (KafkaConsumer) async throws -> T
    ) async throws -> T {
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        return try await consumer.scoped(body)
    }

    /// Subscribes (for a group member) and polls until shut down, then closes: leaves the
    /// group (the final revocation is delivered, not waited for) and releases the client.
    /// Finish and commit in-flight work before shutting the consumer down. At most once.
    public func run() async throws {
        let (core, configuration) = (self.core, self.configuration)
        if configuration.joinsGroup {
            do throws(KafkaError) {
                try client.withHandle { handle throws(KafkaError) in
                    let topics = RDKafkaTopicPartitionList.make(configuration.topics.map { KafkaTopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA) })
                    defer { rd_kafka_topic_partition_list_destroy(topics) }
                    let err = rd_kafka_subscribe(handle.pointer, topics)
                    guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, message: "subscribe to \(configuration.topics)") }
                }
            } catch {
                // Closed at once: `events` ends, the handle goes. A shutdown requested before
                // `run()` began is what refused the subscription (`destroyed`): not a failure.
                triggerGracefulShutdown()
                try? await client.run(poll: { _ in }, finish: { core.finish($0) })
                if error.code == .destroyed { return }
                throw error
            }
        }
        try await client.run(poll: { core.poll($0) }, finish: { core.finish($0) })
    }

    /// Starts the shutdown `run()` completes: a revocation under way is released now, polling
    /// stops and the consumer closes. Returns at once; safe from any thread, more than once.
    public func triggerGracefulShutdown() {
        core.beginClosing()
        client.requestStop()
    }

    /// Only the messages; each revocation completes when the message after it is asked for.
    public var messages: KafkaConsumerMessages { KafkaConsumerMessages(events: events) }

    /// The partitions this member owns now.
    public var assignment: Set<KafkaTopicPartition> { core.partitions.withLock { $0.assigned } }

    /// Commits and waits for the coordinator's answer, at most `timeout`. Offsets are the next
    /// ones to read. librdkafka's synchronous commit waits without limit while the group has no
    /// coordinator (one being elected, or unreachable); a caller that must go on (a committer
    /// that releases held work) gets `timedOut` instead, and the commit may still land later.
    public func commit(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration = .seconds(10)) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        try await client.blocking { handle throws(KafkaError) in
            let list = RDKafkaTopicPartitionList.make(offsets)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            guard let replies = rd_kafka_queue_new(handle.pointer) else { throw KafkaError.client("commit: cannot create a reply queue") }
            // The pending commit holds its own reference to the queue: destroying ours is safe.
            defer { rd_kafka_queue_destroy(replies) }
            try check(rd_kafka_commit_queue(handle.pointer, list, replies, nil, nil), "commit")
            guard let event = rd_kafka_queue_poll(replies, Int32(clamping: timeout.rdkafkaMilliseconds)) else {
                throw KafkaError(code: .timedOut, message: "commit: no answer from the group coordinator within \(timeout)", isRetriable: true)
            }
            defer { rd_kafka_event_destroy(event) }
            try check(rd_kafka_event_error(event), "commit")
            if let committed = rd_kafka_event_topic_partition_list(event), let error = RDKafkaTopicPartitionList.firstError(committed) {
                throw error
            }
        }
    }

    /// Commits everything up to and including `message`.
    public func commit(_ message: KafkaConsumerMessage) async throws(KafkaError) {
        try await commit([message.nextOffset])
    }

    /// Sends a commit without waiting; the outcome arrives as `.offsetsCommitted` in `events`.
    /// Commits are sent in call order.
    public func commitAsync(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try client.withHandle { handle throws(KafkaError) in
            try check(
                rd_kafka_commit_queue(
                    handle.pointer, list, core.consumerQueue.pointer,
                    { rk, err, offsets, _ in
                        guard let callbacks = RDKafkaCallbacks.from(rk) else { return }
                        let committed = RDKafkaTopicPartitionList.offsets(offsets)
                        var error: KafkaError? = err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err, message: "commit")
                        if error == nil, let offsets { error = RDKafkaTopicPartitionList.firstError(offsets) }
                        callbacks.onCommit?(KafkaCommitResult(offsets: committed, error: error))
                    }, nil), "commit")
        }
    }

    /// Marks offsets for librdkafka's periodic commit (only with `enable.auto.commit=true`).
    public func storeOffsets(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try client.withHandle { handle throws(KafkaError) in
            try check(rd_kafka_offsets_store(handle.pointer, list), "store offsets")
        }
        if let error = RDKafkaTopicPartitionList.firstError(list) { throw error }
    }

    /// The group's committed offsets for `partitions` (`KafkaTopicPartitionOffset.invalid` where none).
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        return try await client.blocking { handle throws(KafkaError) in
            let list = RDKafkaTopicPartitionList.make(partitions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            try check(rd_kafka_committed(handle.pointer, list, timeout.rdkafkaMilliseconds), "committed")
            return RDKafkaTopicPartitionList.offsets(list)
        }
    }

    /// The low and high watermarks (first offset, offset after the last record) the partition's
    /// leader reports now: how far a reader must get to have read everything written so far.
    ///
    /// Retriable errors are tried again until `timeout`: right after a leader moves (an election,
    /// a rolling restart) the old leader answers NOT_LEADER_FOR_PARTITION. librdkafka 2.0.2
    /// neither retries this call nor refreshes its metadata after that answer (the next periodic
    /// refresh can be minutes away), so each retry first asks for the topic's metadata.
    public func watermarks(_ partition: KafkaTopicPartition, timeout: Duration = .seconds(10)) async throws(KafkaError) -> (low: Int64, high: Int64) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var backoff = Duration.milliseconds(50)
        var retrying = false
        while true {
            let remaining = max(deadline - clock.now, .milliseconds(1))
            let refresh = retrying
            do throws(KafkaError) {
                return try await client.blocking { handle throws(KafkaError) in
                    if refresh { _ = try? handle.metadata(of: partition.topic, timeout: remaining) }
                    var low: Int64 = 0
                    var high: Int64 = 0
                    try check(
                        rd_kafka_query_watermark_offsets(handle.pointer, partition.topic, partition.partition, &low, &high, remaining.rdkafkaMilliseconds),
                        "watermarks of \(partition)")
                    return (low, high)
                }
            } catch  where error.isRetriable && clock.now + backoff < deadline && !Task.isCancelled {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(1))
                retrying = true
            }
        }
    }

    /// Reads exactly these partitions from these offsets (`KafkaTopicPartitionOffset.beginning`,
    /// `.end`, or an offset), replacing what was assigned before. Only for a `groupless` consumer: a group's
    /// members get their partitions from the group.
    public func assign(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        guard !configuration.joinsGroup else { throw KafkaError.client("assign: this consumer's partitions come from its group") }
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try client.withHandle { handle throws(KafkaError) in
            try check(rd_kafka_assign(handle.pointer, list), "assign")
        }
        core.everAssigned.store(true, ordering: .releasing)
        core.partitions.withLock { $0.assigned = Set(offsets.map(\.topicPartition)) }
    }

    /// The topic's partitions as the cluster reports them now; empty when there is no such topic.
    public func partitions(of topic: String, timeout: Duration = .seconds(10)) async throws(KafkaError) -> [Int32] {
        try await client.blocking { handle throws(KafkaError) in
            try handle.metadata(of: topic, timeout: timeout).topic(topic)?.partitions.map(\.id).sorted() ?? []
        }
    }

    /// Stops fetching from these partitions until `resume`; already buffered messages still arrive.
    /// A pause ends when the partition is revoked: if it comes back, it starts unpaused at its
    /// committed offset. Returns at once (librdkafka only queues the change).
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let core = self.core
        try client.withHandle { handle throws(KafkaError) in try core.pause(Set(partitions), handle) }
    }

    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let core = self.core
        try client.withHandle { handle throws(KafkaError) in try core.resume(Set(partitions), handle) }
    }

    /// Fetches the partition again from `offset`, dropping what was fetched of it and not yet
    /// delivered. Returns at once: the seek completes in the background (librdkafka's
    /// `rd_kafka_seek_partitions` without a timeout).
    public func seek(_ partition: KafkaTopicPartition, to offset: Int64) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList.make([KafkaTopicPartitionOffset(partition, offset: offset)])
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try client.withHandle { handle throws(KafkaError) in
            if let error = rd_kafka_seek_partitions(handle.pointer, list, 0) { throw KafkaError(consuming: error) }
        }
        if let error = RDKafkaTopicPartitionList.firstError(list) { throw error }
    }

    /// The consumer's group metadata for `KafkaProducer.sendOffsetsToTransaction`; destroy after use.
    func groupMetadata() throws(KafkaError) -> OpaquePointer? {
        try client.withHandle { handle in rd_kafka_consumer_group_metadata(handle.pointer) }
    }

    deinit {
        // Never run: no poll thread owns the handle. (A running consumer is held by `run()`.)
        let core = self.core
        client.destroyUnstarted { core.detach($0) }
    }
}

/// The consumer's state shared with librdkafka's callbacks on the poll thread.
final class ConsumerCore: Sendable {
    struct Partitions {
        var assigned: Set<KafkaTopicPartition> = []
        /// Paused in librdkafka now (only ever by the caller).
        var paused: Set<KafkaTopicPartition> = []
        /// Being revoked: still owned, but no longer to be paused.
        var revoking: Set<KafkaTopicPartition> = []
    }

    let channel: KafkaEventChannel
    let partitions = Mutex(Partitions())
    let closing = Atomic<Bool>(false)
    /// Whether an assignment callback ever ran (see `finish`).
    let everAssigned = Atomic<Bool>(false)
    /// The revocation the poll thread is waiting on, so that a shutdown can release it.
    private let pendingRevocation = Mutex<KafkaPartitionRevocation?>(nil)
    /// Set while the poll thread waits for the reader to catch up (only the poll thread uses it).
    private let starved = Atomic<Bool>(false)
    /// Signalled when the reader has drained the buffer to half its capacity.
    private let room = DispatchSemaphore(value: 0)
    private let logger: Logger
    private let capacity: Int
    private let revokeTimeout: Duration
    private let rebalanceProtocol: KafkaConsumerConfiguration.RebalanceProtocol

    init(configuration: KafkaConsumerConfiguration, logger: Logger) {
        self.logger = logger
        self.rebalanceProtocol = configuration.effectiveRebalanceProtocol
        self.capacity = max(1, configuration.bufferCapacity)
        self.revokeTimeout = configuration.revokeTimeout
        let room = self.room
        self.channel = KafkaEventChannel(lowWatermark: max(0, configuration.bufferCapacity / 2)) { room.signal() }
    }

    private let queue = Mutex<RDKafkaQueue?>(nil)

    /// The consumer queue, which `rd_kafka_consumer_poll` waits on. Valid from `attach` until
    /// `finish`, i.e. while `RDKafkaClient.withHandle` admits calls.
    var consumerQueue: RDKafkaQueue {
        queue.withLock { $0! }
    }

    func attach(_ rk: RDKafkaHandle) {
        let consumerQueue = RDKafkaQueue(pointer: rd_kafka_queue_get_consumer(rk.pointer))
        queue.withLock { $0 = consumerQueue }
    }

    /// Gives back the consumer queue (the handle cannot be destroyed while it is held) and ends
    /// `events`; before the handle is destroyed.
    func detach(_ rk: RDKafkaHandle) {
        if let queue = queue.withLock({ state in
            defer { state = nil }
            return state
        }) {
            rd_kafka_queue_destroy(queue.pointer)
        }
        channel.finish()
    }

    /// Stops waiting for the caller: a revocation under way is released now.
    func beginClosing() {
        closing.store(true, ordering: .releasing)
        pendingRevocation.withLock { $0 }?.complete()
    }

    // MARK: Poll thread

    /// Takes the next event from librdkafka, unless the reader lags `capacity` messages behind:
    /// then nothing is taken until it has caught up to half, and librdkafka's own prefetch queue
    /// (bounded by `queued.max.messages.kbytes`) fills and stops fetching. This is back-pressure
    /// without pausing partitions: librdkafka 2.0.2 can resume a paused partition from a stale
    /// position after a rebalance (librdkafka #1802, #4686), which would skip records.
    func poll(_ rk: RDKafkaHandle) {
        if starved.load(ordering: .relaxed) {
            guard channel.bufferedMessages <= capacity / 2 else {
                _ = room.wait(timeout: .now() + .milliseconds(100))
                return
            }
            starved.store(false, ordering: .relaxed)
        } else if channel.bufferedMessages >= capacity {
            starved.store(true, ordering: .relaxed)
            logger.debug("consumer buffer full, waiting for the reader", metadata: ["buffered": "\(capacity)"])
            return
        }
        guard let message = rd_kafka_consumer_poll(rk.pointer, 100) else { return }
        defer { rd_kafka_message_destroy(message) }
        let err = message.pointee.err
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            channel.push(.message(Self.convert(message)))
        } else if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
            // The end as the Fetch answer states it (its high watermark), which a broker may
            // report differently from ListOffsets (tansu 0.6 answers those short).
            if let topic = message.pointee.rkt.map({ String(cString: rd_kafka_topic_name($0)) }) {
                channel.push(.partitionEnd(KafkaTopicPartitionOffset(topic: topic, partition: message.pointee.partition, offset: message.pointee.offset)))
            }
        } else {
            let error = KafkaError(err, message: String(cString: rd_kafka_message_errstr(message)))
            logger.warning("consumer error", metadata: ["error": "\(error)"])
            channel.push(.error(error))
        }
    }

    /// Closes the consumer on the poll thread; false when the handle must not be destroyed.
    func finish(_ rk: RDKafkaHandle) -> Bool {
        closing.store(true, ordering: .releasing)
        let err = rd_kafka_consumer_close(rk.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("consumer close", metadata: ["error": "\(KafkaError(err))"])
        }
        detach(rk)
        // librdkafka 2.0.2 asserts (and aborts the process) when a cooperative-sticky consumer
        // that never got an assignment is destroyed: leave that closed handle to process exit.
        let unsafeToDestroy = rebalanceProtocol == .cooperative && !everAssigned.load(ordering: .acquiring)
        if unsafeToDestroy {
            logger.notice("cooperative consumer closed before its first assignment: handle left undestroyed (librdkafka 2.0.2)")
        }
        return !unsafeToDestroy
    }

    func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        // NULL when the group handle is going away; then the configured protocol decides.
        let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) == "COOPERATIVE" } ?? (rebalanceProtocol == .cooperative)
        let changed = RDKafkaTopicPartitionList.partitions(list)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            // No pause or resume here: the partitions start at their committed offsets. (Resuming a
            // partition right after its assignment made librdkafka 2.0.2 fetch from an older
            // assignment's position; pauses are lifted when partitions are revoked instead.)
            let error: KafkaError?
            if cooperative {
                error = rd_kafka_incremental_assign(rk, list).map { KafkaError(consuming: $0) }
            } else {
                let err = rd_kafka_assign(rk, list)
                error = err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err)
            }
            if let error {
                logger.error("assign failed", metadata: ["error": "\(error)"])
                channel.push(.error(error))
                return
            }
            everAssigned.store(true, ordering: .releasing)
            partitions.withLock { $0.assigned.formUnion(changed) }
            logger.info("partitions assigned", metadata: ["partitions": "\(changed.sorted())", "protocol": "\(cooperative ? "cooperative" : "eager")"])
            channel.push(.partitionsAssigned(changed))

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let revocation = KafkaPartitionRevocation(partitions: changed, isLost: rd_kafka_assignment_lost(rk) != 0)
            logger.info("partitions revoked", metadata: ["partitions": "\(changed.sorted())", "lost": "\(revocation.isLost)"])
            partitions.withLock { $0.revoking.formUnion(changed) }
            pendingRevocation.withLock { $0 = revocation }
            let delivered = channel.push(.partitionsRevoked(revocation))
            if delivered, !closing.load(ordering: .acquiring), !revocation.wait(timeout: revokeTimeout) {
                logger.warning("revocation not completed in time, releasing partitions", metadata: ["timeout": "\(revokeTimeout)"])
            }
            pendingRevocation.withLock { $0 = nil }
            releasePauses(Set(changed), rk)
            partitions.withLock { state in
                state.assigned.subtract(changed)
                state.revoking.subtract(changed)
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, list) {
                    logger.error("unassign failed", metadata: ["error": "\(KafkaError(consuming: error))"])
                }
            } else {
                rd_kafka_assign(rk, nil)
            }

        default:
            let error = KafkaError(err, message: "rebalance failed")
            logger.error("rebalance error", metadata: ["error": "\(error)"])
            let all = partitions.withLock { state in
                defer { state.assigned.removeAll() }
                return state.assigned.union(state.paused)
            }
            releasePauses(all, rk)
            rd_kafka_assign(rk, nil)
            channel.push(.error(error))
        }
    }

    /// Resumes paused partitions that are about to leave. librdkafka keeps a partition's pause
    /// across unassign and reassign, and resuming it at its next assignment fetches from where
    /// the pause left it instead of the committed offset (librdkafka #1802): records would be
    /// skipped. Resumed before they go, they start from the committed offset when they return.
    private func releasePauses(_ leaving: Set<KafkaTopicPartition>, _ rk: OpaquePointer) {
        partitions.withLock { state in
            let paused = state.paused.intersection(leaving)
            state.paused.subtract(paused)
            if !paused.isEmpty { try? Self.setPaused(false, paused, RDKafkaHandle(pointer: rk)) }
        }
    }

    /// Fatal errors and the loss of every broker reach the caller; librdkafka retries the rest.
    func report(_ error: KafkaError) {
        if error.isFatal || error.code == .allBrokersDown { channel.push(.error(error)) }
    }

    // MARK: Caller pause / resume (on a blocking thread)

    /// Pauses owned partitions not yet paused. Each is paused at most once in a row: repeated
    /// pauses and unmatched resumes confuse librdkafka 2.0.2's saved fetch position.
    func pause(_ requested: Set<KafkaTopicPartition>, _ rk: RDKafkaHandle) throws(KafkaError) {
        try partitions.withLock { state throws(KafkaError) in
            let owned = requested.intersection(state.assigned).subtracting(state.revoking).subtracting(state.paused)
            try Self.setPaused(true, owned, rk)
            state.paused.formUnion(owned)
        }
    }

    /// Resumes partitions this consumer paused; others are left alone.
    func resume(_ requested: Set<KafkaTopicPartition>, _ rk: RDKafkaHandle) throws(KafkaError) {
        try partitions.withLock { state throws(KafkaError) in
            let paused = requested.intersection(state.paused)
            try Self.setPaused(false, paused, rk)
            state.paused.subtract(paused)
        }
    }

    private static func setPaused(_ paused: Bool, _ set: Set<KafkaTopicPartition>, _ rk: RDKafkaHandle) throws(KafkaError) {
        guard !set.isEmpty else { return }
        let list = RDKafkaTopicPartitionList.make(Array(set))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = paused ? rd_kafka_pause_partitions(rk.pointer, list) : rd_kafka_resume_partitions(rk.pointer, list)
        try check(err, paused ? "pause" : "resume")
        if let error = RDKafkaTopicPartitionList.firstError(list) { throw error }
    }

    // MARK: Conversion

    static func convert(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaConsumerMessage {
        let raw = message.pointee
        var headers: [KafkaHeader] = []
        var list: OpaquePointer?
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(
                    KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return KafkaConsumerMessage(
            topic: String(cString: rd_kafka_topic_name(raw.rkt)),
            partition: raw.partition,
            offset: raw.offset,
            key: raw.key.map { Array(UnsafeRawBufferPointer(start: $0, count: raw.key_len)) },
            value: raw.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: raw.len)) },
            headers: headers,
            timestampMilliseconds: timestamp >= 0 ? timestamp : nil
        )
    }
}

/// An `rd_kafka_queue_t *`.
struct RDKafkaQueue: @unchecked Sendable {
    let pointer: OpaquePointer
}
