import CRdKafka
import Logging
import ServiceLifecycle
import Synchronization

/// Writes records and reports each one's fate. Idempotent by default; transactional when
/// configured with a `transactionalId`.
///
/// A `Service`, as in swift-kafka-client: making one has no side effect beyond librdkafka's
/// handle; `run()` polls on a thread of its own (delivery reports arrive only while it runs)
/// and, once shut down (`triggerGracefulShutdown()`, its group's graceful shutdown, or
/// cancellation), flushes for at most `configuration.flushTimeout`, fails what is still queued
/// and releases the client before it returns. For one-shot use, `with` runs one around a body.
///
/// `send` awaits the broker's acknowledgement; `submit` queues and hands back the wait for it;
/// `enqueue` returns at once and reports through `deliveryReports`.
public final class KafkaProducer: KafkaClient, Sendable {
    /// Reports for records sent with `enqueue` (records sent with `send` report to their caller).
    public let deliveryReports: AsyncStream<KafkaDeliveryReport>
    /// librdkafka statistics samples, when `statistics.interval.ms` is set; the newest is kept.
    public let statistics: AsyncStream<KafkaStatistics>
    public let configuration: KafkaProducerConfiguration

    private let client: RDKafkaClient
    private let core: ProducerCore

    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        let (statistics, statisticsContinuation) = AsyncStream.makeStream(of: KafkaStatistics.self, bufferingPolicy: .bufferingNewest(1))
        let (reports, reportsContinuation) = AsyncStream.makeStream(of: KafkaDeliveryReport.self)
        let core = ProducerCore(reports: reportsContinuation, flushTimeout: configuration.flushTimeout, logger: logger)
        let callbacks = RDKafkaCallbacks(
            logger: logger,
            statistics: statisticsContinuation,
            onDelivery: { message in core.delivered(message) }
        )
        self.client = try RDKafkaClient(kind: .producer, properties: configuration.librdkafkaProperties, callbacks: callbacks)
        self.core = core
        self.configuration = configuration
        self.deliveryReports = reports
        self.statistics = statistics
    }

    /// Runs `body` with a running producer, which is flushed and closed when `body` returns or
    /// throws, before this returns: the form for one-shot use.
    public static func with<T>(
        configuration: KafkaProducerConfiguration, logger: Logger, _ body: (KafkaProducer) async throws -> T
    ) async throws -> T {
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        return try await producer.scoped(body)
    }

    /// Polls until shut down, then flushes (up to `configuration.flushTimeout`), fails whatever
    /// is still queued, and releases the client. At most once.
    public func run() async throws {
        let core = self.core
        try await client.run(
            poll: { rd_kafka_poll($0.pointer, 100) },
            finish: {
                core.finish($0)
                return true
            }
        )
    }

    /// Starts the shutdown `run()` completes. Returns at once; safe from any thread, more than once.
    public func triggerGracefulShutdown() {
        client.requestStop()
    }

    /// Sends a record and waits until the broker has acknowledged it (or librdkafka gave up).
    @discardableResult
    public func send(_ message: KafkaProducerMessage) async throws(KafkaError) -> KafkaDeliveryReport {
        try await submit(message).acknowledgement()
    }

    /// Queues a record and returns at once with a handle on its acknowledgement. Records queued
    /// for one partition are written in the order they were queued (the producer is idempotent:
    /// librdkafka's own retries keep that order), so a caller can go on with the next record of
    /// a key without waiting for this one's acknowledgement. Throws `queueFull` when librdkafka's
    /// queue is full.
    public func submit(_ message: KafkaProducerMessage) throws(KafkaError) -> KafkaPendingDelivery {
        let (id, delivery) = core.register()
        do throws(KafkaError) {
            try produce(message, id: id)
        } catch {
            _ = core.unregister(id)
            throw error
        }
        return delivery
    }

    /// Queues a record and returns its id at once; its report arrives on `deliveryReports`.
    /// Throws `queueFull` when librdkafka's queue is full.
    @discardableResult
    public func enqueue(_ message: KafkaProducerMessage) throws(KafkaError) -> UInt64 {
        let id = core.nextID()
        try produce(message, id: id)
        return id
    }

    /// Waits until every queued record is acknowledged or failed.
    public func flush(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await client.blocking { handle throws(KafkaError) in
            try check(rd_kafka_flush(handle.pointer, timeout.rdkafkaMilliseconds), "flush")
        }
    }

    deinit {
        // Never run: no poll thread owns the handle. (A running producer is held by `run()`.)
        let core = self.core
        client.destroyUnstarted { core.finish($0, flushing: false) }
    }

    private func produce(_ message: KafkaProducerMessage, id: UInt64) throws(KafkaError) {
        var headers: OpaquePointer? = nil
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                if let value = header.value {
                    value.withUnsafeBytes { _ = rd_kafka_header_add(headers, header.key, -1, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count) }
                } else {
                    rd_kafka_header_add(headers, header.key, -1, nil, 0)
                }
            }
        }
        var gateError: KafkaError?
        let error: OpaquePointer? = message.topic.withCString { topic in
            withOptionalBytes(message.key) { key in
                withOptionalBytes(message.value) { value in
                    var vus = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 8)
                    var count = 0
                    func add(_ configure: (inout rd_kafka_vu_t) -> Void) {
                        configure(&vus[count])
                        count += 1
                    }
                    add {
                        $0.vtype = RD_KAFKA_VTYPE_TOPIC
                        $0.u.cstr = topic
                    }
                    add {
                        $0.vtype = RD_KAFKA_VTYPE_PARTITION
                        $0.u.i32 = message.partition ?? RD_KAFKA_PARTITION_UA
                    }
                    add {
                        $0.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                        $0.u.i = RD_KAFKA_MSG_F_COPY
                    }
                    add {
                        $0.vtype = RD_KAFKA_VTYPE_OPAQUE
                        $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(id))
                    }
                    if let key {
                        add {
                            $0.vtype = RD_KAFKA_VTYPE_KEY
                            $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                            $0.u.mem.size = key.count
                        }
                    }
                    if let value {
                        add {
                            $0.vtype = RD_KAFKA_VTYPE_VALUE
                            $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                            $0.u.mem.size = value.count
                        }
                    }
                    if let headers {
                        add {
                            $0.vtype = RD_KAFKA_VTYPE_HEADERS
                            $0.u.headers = headers
                        }
                    }
                    if let timestamp = message.timestampMilliseconds {
                        add {
                            $0.vtype = RD_KAFKA_VTYPE_TIMESTAMP
                            $0.u.i64 = timestamp
                        }
                    }
                    do throws(KafkaError) {
                        return try client.withHandle { handle in rd_kafka_produceva(handle.pointer, vus, count) }
                    } catch {
                        gateError = error
                        return nil
                    }
                }
            }
        }
        if let gateError {
            if let headers { rd_kafka_headers_destroy(headers) }
            throw gateError
        }
        if let error {
            // On failure the headers were not taken over.
            if let headers { rd_kafka_headers_destroy(headers) }
            throw KafkaError(consuming: error)
        }
    }

    // MARK: Transactions

    /// Registers the `transactionalId` with the coordinator, fencing any older instance with the
    /// same id and completing or aborting what it left open. Call once before `beginTransaction`.
    public func initTransactions(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await client.blocking { handle throws(KafkaError) in
            try check(rd_kafka_init_transactions(handle.pointer, timeout.rdkafkaMilliseconds))
        }
    }

    public func beginTransaction() async throws(KafkaError) {
        try await client.blocking { handle throws(KafkaError) in
            try check(rd_kafka_begin_transaction(handle.pointer))
        }
    }

    /// Adds the consumer's offsets to the current transaction: they are committed for the
    /// consumer's group exactly when the transaction commits.
    public func sendOffsetsToTransaction(_ offsets: [KafkaTopicPartitionOffset], consumer: KafkaConsumer, timeout: Duration = .seconds(30))
        async throws(KafkaError)
    {
        guard !offsets.isEmpty else { return }
        guard let metadata = RDKafkaGroupMetadata(try consumer.groupMetadata()) else {
            throw KafkaError(code: .state, message: "consumer has no group metadata")
        }
        try await client.blocking { handle throws(KafkaError) in
            let list = RDKafkaTopicPartitionList.make(offsets)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            try check(rd_kafka_send_offsets_to_transaction(handle.pointer, list, metadata.pointer, timeout.rdkafkaMilliseconds))
        }
    }

    /// Flushes and commits the current transaction.
    public func commitTransaction(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await client.blocking { handle throws(KafkaError) in
            try check(rd_kafka_commit_transaction(handle.pointer, timeout.rdkafkaMilliseconds))
        }
    }

    /// Aborts the current transaction; its records are marked aborted and its offsets dropped.
    public func abortTransaction(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await client.blocking { handle throws(KafkaError) in
            try check(rd_kafka_abort_transaction(handle.pointer, timeout.rdkafkaMilliseconds))
        }
    }
}

/// Owns an `rd_kafka_consumer_group_metadata_t *` for the duration of one call.
private final class RDKafkaGroupMetadata: @unchecked Sendable {
    let pointer: OpaquePointer
    init?(_ pointer: OpaquePointer?) {
        guard let pointer else { return nil }
        self.pointer = pointer
    }
    deinit { rd_kafka_consumer_group_metadata_destroy(pointer) }
}

/// Calls `body` with the bytes, or with nil for a nil array. An empty array gets a valid,
/// non-null pointer so that librdkafka keeps it distinct from a null key or value.
private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    if bytes.isEmpty {
        var zero: UInt8 = 0
        return withUnsafeBytes(of: &zero) { body(UnsafeRawBufferPointer(start: $0.baseAddress, count: 0)) }
    }
    return bytes.withUnsafeBytes { body($0) }
}

/// A record queued by `KafkaProducer.submit`: await its acknowledgement, or have it call back,
/// once.
public struct KafkaPendingDelivery: Sendable {
    fileprivate let slot: DeliverySlot

    /// A delivery settled by the caller, for producers other than `KafkaProducer` (in-process
    /// fakes): call `settle` once with the outcome.
    public static func promise() -> (delivery: KafkaPendingDelivery, settle: @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void) {
        let slot = DeliverySlot()
        return (KafkaPendingDelivery(slot: slot), { slot.fulfil($0) })
    }

    /// Waits until the broker acknowledged the record; throws if librdkafka gave up on it.
    @discardableResult
    public func acknowledgement() async throws(KafkaError) -> KafkaDeliveryReport {
        try await withCheckedContinuation { continuation in
            slot.whenDone { continuation.resume(returning: $0) }
        }.get()
    }

    /// Calls `body` with the outcome once it is known, at once if it is already. It runs on
    /// librdkafka's delivery thread (or the caller's): it must be short and must not block.
    /// Lets a caller with many records in flight keep no task per record.
    public func whenAcknowledged(_ body: @escaping @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void) {
        slot.whenDone(body)
    }
}

/// Where a delivery report meets whoever waits for it; either may come first.
private final class DeliverySlot: Sendable {
    typealias Outcome = Result<KafkaDeliveryReport, KafkaError>
    typealias Waiter = @Sendable (Outcome) -> Void
    private enum State {
        case pending(Waiter?)
        case done(Outcome)
    }

    private let state = Mutex(State.pending(nil))

    /// A report with an error is a failure.
    func fulfil(_ outcome: Outcome) {
        let outcome = outcome.flatMap { report in report.error.map { .failure($0) } ?? .success(report) }
        let waiter = state.withLock { state -> Waiter? in
            guard case .pending(let waiter) = state else { return nil }
            state = .done(outcome)
            return waiter
        }
        waiter?(outcome)
    }

    func whenDone(_ waiter: @escaping Waiter) {
        let ready = state.withLock { state -> Outcome? in
            switch state {
            case .done(let outcome): return outcome
            case .pending:
                state = .pending(waiter)
                return nil
            }
        }
        if let ready { waiter(ready) }
    }
}

/// The producer's state shared with the delivery callback on the poll thread.
final class ProducerCore: Sendable {
    private struct State {
        var nextID: UInt64 = 1
        var waiting: [UInt64: DeliverySlot] = [:]
    }

    private let state = Mutex(State())
    private let reports: AsyncStream<KafkaDeliveryReport>.Continuation
    private let logger: Logger
    private let flushTimeout: Duration

    init(reports: AsyncStream<KafkaDeliveryReport>.Continuation, flushTimeout: Duration, logger: Logger) {
        self.reports = reports
        self.flushTimeout = flushTimeout
        self.logger = logger
    }

    func nextID() -> UInt64 {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    func register() -> (UInt64, KafkaPendingDelivery) {
        let slot = DeliverySlot()
        let id = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.waiting[id] = slot
            return id
        }
        return (id, KafkaPendingDelivery(slot: slot))
    }

    fileprivate func unregister(_ id: UInt64) -> DeliverySlot? {
        state.withLock { $0.waiting.removeValue(forKey: id) }
    }

    func delivered(_ message: UnsafePointer<rd_kafka_message_t>) {
        let raw = message.pointee
        let id = UInt64(UInt(bitPattern: raw._private))
        let error: KafkaError? = raw.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(raw.err, message: String(cString: rd_kafka_err2str(raw.err)))
        let report = KafkaDeliveryReport(
            id: id,
            topic: raw.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
            partition: raw.partition,
            offset: error == nil && raw.offset >= 0 ? raw.offset : nil,
            error: error
        )
        if let slot = unregister(id) {
            slot.fulfil(.success(report))
        } else {
            reports.yield(report)
        }
    }

    /// On the poll thread at close: flush, then fail anything left so no caller waits forever.
    /// In the deinit of a producer never run, `flushing` false: nothing is waited for.
    func finish(_ rk: RDKafkaHandle, flushing: Bool = true) {
        let err = flushing ? rd_kafka_flush(rk.pointer, flushTimeout.rdkafkaMilliseconds) : RD_KAFKA_RESP_ERR__TIMED_OUT
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, rd_kafka_outq_len(rk.pointer) > 0 {
            logger.warning("producer closed with undelivered records", metadata: ["queued": "\(rd_kafka_outq_len(rk.pointer))"])
            rd_kafka_purge(rk.pointer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
            rd_kafka_poll(rk.pointer, 0)
        }
        let left = state.withLock { state in
            defer { state.waiting = [:] }
            return state.waiting
        }
        for (_, slot) in left {
            slot.fulfil(.failure(KafkaError(code: .destroyed, message: "producer closed before delivery")))
        }
        reports.finish()
    }
}
