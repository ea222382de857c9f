import Foundation
import Kafka
import Logging
import Provisioning
import ProvisioningContract
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing
@_spi(ForTesting) import Worker

/// A consumer without a cluster: records per partition, delivered in order from a position
/// that `seek` moves; `lose` makes one record vanish from the stream once, as a fetch that
/// skipped it would.
final class InMemoryConsumer: CommandConsumer {
    private struct State {
        var records: [Int32: [KafkaConsumerMessage]] = [:]
        var position: [Int32: Int] = [:]
        var lost: Set<Int64> = []
        var assigned = false
        var closed = false
        var commits: [Int32: Int64] = [:]
        var seeks: [(Int32, Int64)] = []
        var waiter: CheckedContinuation<Void, Never>?
        var turn = 0
    }

    private let state = Mutex(State())

    init(partitions: Int32, commands: [(key: String, value: String)], lose: Set<Int64> = []) {
        state.withLock { state in
            for (index, command) in commands.enumerated() {
                let partition = Int32(abs(command.key.hashValue) % Int(partitions))
                let offset = Int64(state.records[partition, default: []].count)
                state.records[partition, default: []].append(
                    KafkaConsumerMessage(
                        topic: "commands", partition: partition, offset: offset, key: Array(command.key.utf8), value: Array(command.value.utf8),
                        headers: [KafkaHeader(key: "index", value: "\(index)")], timestampMilliseconds: nil
                    ))
            }
            for partition in 0..<partitions { state.position[partition] = 0 }
            state.lost = lose
        }
    }

    var commits: [Int32: Int64] { state.withLock { $0.commits } }
    var seeks: [(Int32, Int64)] { state.withLock { $0.seeks } }

    func nextEvent() async -> KafkaConsumerEvent? {
        while true {
            enum Next {
                case event(KafkaConsumerEvent)
                case end, wait
            }
            let next = state.withLock { state -> Next in
                if state.closed { return .end }
                if !state.assigned {
                    state.assigned = true
                    return .event(.partitionsAssigned(state.records.keys.sorted().map { KafkaTopicPartition(topic: "commands", partition: $0) }))
                }
                let partitions = state.records.keys.sorted()
                for step in 0..<partitions.count {
                    let partition = partitions[(state.turn + step) % partitions.count]
                    let records = state.records[partition]!
                    while let index = state.position[partition], index < records.count {
                        state.position[partition] = index + 1
                        let record = records[index]
                        // Offsets are per partition: `lost` names offsets of partition 0.
                        if partition == 0, state.lost.remove(record.offset) != nil { continue }
                        state.turn += 1
                        return .event(.message(record))
                    }
                }
                return .wait
            }
            switch next {
            case .event(let event): return event
            case .end: return nil
            case .wait:
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = state.withLock { state in
                            if state.closed || Task.isCancelled { return true }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    state.withLock { state in
                        defer { state.waiter = nil }
                        return state.waiter
                    }?.resume()
                }
                if Task.isCancelled { return nil }
            }
        }
    }

    func committed(_ partitions: [KafkaTopicPartition]) async throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        let commits = self.commits
        return partitions.map { KafkaTopicPartitionOffset($0, offset: commits[$0.partition] ?? 0) }
    }

    func commit(_ offsets: [KafkaTopicPartitionOffset]) async throws(KafkaError) {
        state.withLock { state in for offset in offsets { state.commits[offset.partition] = offset.offset } }
    }

    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {}
    func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {}

    func seek(_ partition: KafkaTopicPartition, to offset: Int64) throws(KafkaError) {
        let waiter = state.withLock { state in
            state.seeks.append((partition.partition, offset))
            state.position[partition.partition] = Int(offset)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func probe() async -> Bool { true }
    var lagStatistics: AsyncStream<KafkaStatistics>? { nil }

    /// Delivers until the graceful shutdown (or cancellation), then ends the events.
    func run() async throws {
        try? await gracefulShutdown()
        state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
    }
}

/// Counts something up and wakes whoever waits for a count.
final class Tally: Sendable {
    private let state = Mutex<(count: Int, waiters: [(Int, CheckedContinuation<Void, Never>)])>((0, []))

    func add() {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.count += 1
            let (due, rest) = (state.waiters.filter { $0.0 <= state.count }, state.waiters.filter { $0.0 > state.count })
            state.waiters = rest
            return due.map(\.1)
        }
        for waiter in ready { waiter.resume() }
    }

    var count: Int { state.withLock { $0.count } }

    /// Returns once the count reaches `target`.
    func reach(_ target: Int) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if state.count >= target { return true }
                state.waiters.append((target, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// A producer without a cluster: keeps what it was given, acknowledged at once.
final class InMemoryProducer: RecordProducer {
    let records = Mutex<[KafkaProducerMessage]>([])
    let replies = Tally()

    func submit(_ message: KafkaProducerMessage) throws(KafkaError) -> KafkaPendingDelivery {
        let (delivery, settle) = KafkaPendingDelivery.promise()
        records.withLock { $0.append(message) }
        if message.topic == "replies" { replies.add() }
        settle(.success(KafkaDeliveryReport(id: 0, topic: message.topic, partition: 0, offset: nil, error: nil)))
        return delivery
    }

    func run() async throws { try? await gracefulShutdown() }
}

/// A vendor whose calls never end until cancelled; counts calls still open.
final class HangingVendor: VendorAdapter {
    let kind: VendorKind = .tecs
    let open = Atomic<Int>(0)
    let started = Tally()

    func plan(_ command: ProvisioningCommand, for target: ProvisioningTarget) -> Result<JSONValue, AdapterFailure> { .success(.null) }

    func perform(_ command: ProvisioningCommand, for target: ProvisioningTarget) async -> AdapterOutcome {
        open.add(1, ordering: .relaxed)
        started.add()
        defer { open.subtract(1, ordering: .relaxed) }
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(60)) }
        return .failed(AdapterFailure(.unavailable, message: "cancelled", retryable: true))
    }
}

@Suite("The worker in-process, without a cluster", .timeLimit(.minutes(10)))
struct InProcessWorkerTests {
    static func command(_ index: Int, user: String) -> (key: String, value: String) {
        ("tecs-test:\(user)", #"{"commandId":"c-\#(index)","target":"tecs-test","operation":"assignRoles","userId":"\#(user)","roles":[{"name":"r"}]}"#)
    }

    static func worker(_ consumer: InMemoryConsumer, _ producer: InMemoryProducer, vendor: any VendorAdapter, grace: Duration = .seconds(30))
        -> ProvisioningWorker
    {
        var logger = Logger(label: "in-process")
        logger.logLevel = .critical
        let processor = CommandProcessor(
            targets: ["tecs-test": ProvisioningTarget(name: "tecs-test", vendor: .tecs, baseURL: "http://127.0.0.1:1")],
            adapters: [.tecs: vendor], worker: "test/1"
        )
        var settings = WorkerSettings(repliesTopic: "replies", deadLettersTopic: "dlq", groupId: "workers", workerId: "test/1")
        settings.commitInterval = .milliseconds(20)
        settings.shutdownGracePeriod = grace
        return ProvisioningWorker(
            consumer: consumer, publishing: ProvisioningWorker.acknowledged(producer, logger: logger), processor: processor, settings: settings, logger: logger)
    }

    static func answered(_ producer: InMemoryProducer) -> [String] {
        producer.records.withLock { $0.filter { $0.topic == "replies" }.compactMap { $0.headers.string("commandId") } }
    }

    @Test("a record the consumer skipped is noticed, read again, and answered; a key's replies stay in offset order")
    func skippedRecordIsReadAgain() async throws {
        let commands = (0..<400).map { Self.command($0, user: "u\($0 % 7)") }
        let consumer = InMemoryConsumer(partitions: 1, commands: commands, lose: [37, 38, 205])
        let producer = InMemoryProducer()
        let worker = Self.worker(consumer, producer, vendor: SlowVendor())
        try await withDeadline(60) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await worker.runUntilStopped() }
                // No command is answered twice (checked below): the count of replies is the count answered.
                await producer.replies.reach(commands.count)
                worker.stop()
                try await group.waitForAll()
            }
        }
        let answered = Self.answered(producer)
        #expect(Set(answered).count == commands.count, "every command answered")
        #expect(answered.count == commands.count, "none twice")
        #expect(consumer.seeks.map(\.1) == [37, 205], "read again from each gap")
        #expect(worker.gaps == 2)
        // Per key, replies in command order.
        var lastIndex: [String: Int] = [:]
        for id in answered {
            let index = Int(id.dropFirst(2))!
            let key = "u\(index % 7)"
            #expect(index > lastIndex[key, default: -1], "\(key): \(id) after c-\(lastIndex[key, default: -1])")
            lastIndex[key] = index
        }
        #expect(consumer.commits[0] == Int64(commands.count), "committed to the end")
    }

    @Test("when run() returns, nothing it started still runs: vendor calls past the grace period are cancelled first")
    func nothingOutlivesRun() async throws {
        let consumer = InMemoryConsumer(partitions: 2, commands: (0..<20).map { Self.command($0, user: "u\($0)") })
        let producer = InMemoryProducer()
        let vendor = HangingVendor()
        let worker = Self.worker(consumer, producer, vendor: vendor, grace: .milliseconds(200))
        try await withDeadline(60) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await worker.runUntilStopped() }
                await vendor.started.reach(20)
                worker.stop()
                try await group.waitForAll()
            }
        }
        #expect(vendor.open.load(ordering: .relaxed) == 0, "no vendor call still open after run() returned")
        #expect(consumer.commits.values.allSatisfy { $0 == 0 }, "nothing finished: nothing committed past the start")
    }
}
