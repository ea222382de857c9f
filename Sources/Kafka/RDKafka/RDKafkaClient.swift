import CRdKafka
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// What librdkafka calls back into. Reached from C through the handle's opaque pointer, so
/// it must outlive the handle; `RDKafkaClient` keeps it until `rd_kafka_destroy` returns.
final class RDKafkaCallbacks: Sendable {
    let logger: Logger
    let statistics: AsyncStream<KafkaStatistics>.Continuation
    /// Producer delivery reports.
    let onDelivery: (@Sendable (UnsafePointer<rd_kafka_message_t>) -> Void)?
    /// Consumer group rebalances; the handler must assign or unassign.
    let onRebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)?
    /// Errors reported by librdkafka's error callback (mostly transient, sometimes fatal).
    let onError: (@Sendable (KafkaError) -> Void)?
    /// Results of asynchronous consumer commits.
    let onCommit: (@Sendable (KafkaCommitResult) -> Void)?
    /// The last error librdkafka reported per broker (`host:port/id`), for a caller whose request
    /// failed only with "transport failure" to say what the brokers said.
    let brokerErrors = Mutex<[String: String]>([:])

    init(
        logger: Logger,
        statistics: AsyncStream<KafkaStatistics>.Continuation,
        onDelivery: (@Sendable (UnsafePointer<rd_kafka_message_t>) -> Void)? = nil,
        onRebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)? = nil,
        onError: (@Sendable (KafkaError) -> Void)? = nil,
        onCommit: (@Sendable (KafkaCommitResult) -> Void)? = nil
    ) {
        self.logger = logger
        self.statistics = statistics
        self.onDelivery = onDelivery
        self.onRebalance = onRebalance
        self.onError = onError
        self.onCommit = onCommit
    }

    /// The broker (`host:port/id`, id `bootstrap` before the first metadata) and the reason of
    /// an error librdkafka reports for one broker connection ("127.0.0.1:9092/1: Connect to …").
    static func brokerReport(_ message: String) -> (broker: String, reason: String)? {
        guard let separator = message.range(of: ": ") else { return nil }
        let broker = message[..<separator.lowerBound]
        guard let slash = broker.lastIndex(of: "/"), broker[..<slash].contains(":"), !broker.contains(" ") else { return nil }
        return (String(broker), String(message[separator.upperBound...]))
    }

    static func from(_ rk: OpaquePointer?) -> RDKafkaCallbacks? {
        guard let rk, let opaque = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<RDKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
    }

    /// Installs the C trampolines on `conf`.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let callbacks = RDKafkaCallbacks.from(rk), let message else { return }
            let name = rk.map { String(cString: rd_kafka_name($0)) } ?? "rdkafka"
            callbacks.logger.log(
                level: Logger.Level(syslog: level),
                "\(String(cString: message))",
                metadata: ["rdkafka.facility": "\(facility.map { String(cString: $0) } ?? "")", "rdkafka.client": "\(name)"],
                source: "rdkafka"
            )
        }
        rd_kafka_conf_set_stats_cb(conf) { rk, json, length, _ in
            if let callbacks = RDKafkaCallbacks.from(rk), let json {
                let text = String(decoding: UnsafeRawBufferPointer(start: json, count: length), as: UTF8.self)
                callbacks.statistics.yield(KafkaStatistics(json: text))
            }
            return 0  // librdkafka frees the buffer
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, _ in
            guard let callbacks = RDKafkaCallbacks.from(rk) else { return }
            var error = KafkaError(rd_kafka_resp_err_t(rawValue: err), message: reason.map { String(cString: $0) })
            if error.code == .fatal, let rk {
                var errstr = [CChar](repeating: 0, count: 512)
                let underlying = rd_kafka_fatal_error(rk, &errstr, errstr.count)
                let text = String(errorBuffer: errstr)
                error = KafkaError(code: KafkaError.Code(underlying), message: text, isFatal: true)
            }
            if let (broker, reason) = RDKafkaCallbacks.brokerReport(error.message) {
                callbacks.brokerErrors.withLock { $0[broker] = reason }
                if reason.contains("ApiVersionRequest failed") {
                    // Connected, but the broker's answer to the first request could not be read:
                    // a protocol mismatch, not a network problem, and no retry will mend it.
                    callbacks.logger.error(
                        "Kafka broker refused the handshake", metadata: ["broker": "\(broker)", "reason": "\(reason)", "error": "\(error.code)"])
                    callbacks.onError?(error)
                    return
                }
            }
            callbacks.logger.log(level: error.isFatal ? .error : .warning, "librdkafka error", metadata: ["error": "\(error)"])
            callbacks.onError?(error)
        }
        if onDelivery != nil {
            rd_kafka_conf_set_dr_msg_cb(conf) { rk, message, _ in
                guard let callbacks = RDKafkaCallbacks.from(rk), let message else { return }
                callbacks.onDelivery?(message)
            }
        }
        if onRebalance != nil {
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, _ in
                guard let callbacks = RDKafkaCallbacks.from(rk), let rk, let partitions else { return }
                callbacks.onRebalance?(rk, err, partitions)
            }
        }
    }
}

/// Owns one librdkafka handle and the dedicated thread that polls it.
///
/// librdkafka hands results back only while someone polls; polling blocks. Each client therefore
/// gets its own OS thread, so that neither polling nor callbacks ever occupy Swift's cooperative pool.
final class RDKafkaClient: Sendable {
    enum Kind { case producer, consumer }

    let handle: RDKafkaHandle
    let callbacks: RDKafkaCallbacks
    let name: String
    private let stopRequested = Atomic<Bool>(false)
    private let lifecycle = Mutex(Lifecycle())

    private struct Lifecycle {
        var started = false
        var finished = false
        /// Calls into librdkafka under way through `withHandle`; destruction waits for them.
        var inFlight = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    init(kind: Kind, properties: [String: String], callbacks: RDKafkaCallbacks) throws(KafkaError) {
        let conf = try RDKafkaConfig.make(properties)
        callbacks.install(on: conf)
        var errstr = [CChar](repeating: 0, count: 512)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            let detail = String(errorBuffer: errstr)
            throw KafkaError.client("cannot create Kafka client: \(detail)")
        }
        self.handle = RDKafkaHandle(pointer: rk)
        self.callbacks = callbacks
        self.name = String(cString: rd_kafka_name(rk))
    }

    var isStopping: Bool { stopRequested.load(ordering: .acquiring) }

    /// Runs `body` with the handle, refusing once the client is stopping: the handle is
    /// destroyed only after every such call has returned.
    func withHandle<T>(_ body: (RDKafkaHandle) throws(KafkaError) -> T) throws(KafkaError) -> T {
        try lifecycle.withLock { state throws(KafkaError) in
            if stopRequested.load(ordering: .acquiring) || state.finished {
                throw KafkaError(code: .destroyed, message: "\(name) is closed")
            }
            state.inFlight += 1
        }
        defer { lifecycle.withLock { $0.inFlight -= 1 } }
        return try body(handle)
    }

    /// `withHandle` on a Dispatch thread, for calls that block inside librdkafka.
    func blocking<T: Sendable>(_ body: @escaping @Sendable (RDKafkaHandle) throws(KafkaError) -> T) async throws(KafkaError) -> T {
        try await runBlocking { () throws(KafkaError) -> T in try self.withHandle(body) }
    }

    /// On the poll thread, before destruction: lets calls that got in before `requestStop()` finish.
    private func awaitCallsInFlight() {
        while lifecycle.withLock({ $0.inFlight }) > 0 {
            usleep(1000)
        }
    }

    /// Hosts the client: starts the poll thread, on which `poll` runs repeatedly until a stop is
    /// requested (`requestStop()`, the calling task's cancellation, or its graceful shutdown),
    /// then `finish` runs once on the same thread, then the handle is destroyed (unless `finish`
    /// returns false). Returns once it is. At most once per client: a second call throws.
    func run(poll: @escaping @Sendable (RDKafkaHandle) -> Void, finish: @escaping @Sendable (RDKafkaHandle) -> Bool) async throws(KafkaError) {
        let first = lifecycle.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else { throw KafkaError(code: .state, message: "\(name) is already running") }
        let thread = Thread { [self] in
            while !self.isStopping {
                poll(self.handle)
            }
            self.awaitCallsInFlight()
            if finish(self.handle) {
                rd_kafka_destroy(self.handle.pointer)
            } else {
                // librdkafka's threads live on and may still call back: keep the callbacks alive.
                _ = Unmanaged.passRetained(self)
            }
            self.callbacks.statistics.finish()
            let waiters = self.lifecycle.withLock { state in
                state.finished = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.name = "rdkafka-poll-\(name)"
        thread.start()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await self.finished()
            } onCancel: {
                self.requestStop()
            }
        } onGracefulShutdown: {
            self.requestStop()
        }
    }

    /// Returns once the poll thread has destroyed the handle (at once if it never started).
    private func finished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = lifecycle.withLock { state -> Bool in
                if state.finished || !state.started { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Asks the poll thread to finish, without waiting: `run()` returns once it has destroyed
    /// the handle. Safe from any thread, any number of times, before `run()` too (which then
    /// closes at once).
    func requestStop() {
        lifecycle.withLock { _ in stopRequested.store(true, ordering: .releasing) }
    }

    /// Destroys the handle if `run()` never started (its owner's deinit): there is no poll
    /// thread to do it. `release` runs first, to give back what holds the handle.
    func destroyUnstarted(release: (RDKafkaHandle) -> Void = { _ in }) {
        let unstarted = lifecycle.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard unstarted else { return }
        release(handle)
        rd_kafka_destroy(handle.pointer)
        callbacks.statistics.finish()
    }
}

extension Logger.Level {
    /// librdkafka logs with syslog severities.
    init(syslog level: Int32) {
        switch level {
        case ...2: self = .critical
        case 3: self = .error
        case 4: self = .warning
        case 5: self = .notice
        case 6: self = .info
        default: self = .debug
        }
    }
}
