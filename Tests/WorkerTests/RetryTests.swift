import Foundation
import Kafka
import Logging
import Provisioning
import ProvisioningContract
import Synchronization
import TestSupport
import Testing
import Worker

/// A vendor that refuses user "stuck" with a retryable failure until it has answered everyone
/// else, and records the order of its answers.
final class FlakyVendor: VendorAdapter {
    let kind: VendorKind = .tecs
    let others: Int
    let answered = Mutex<[String]>([])

    init(others: Int) { self.others = others }

    func plan(_ command: ProvisioningCommand, for target: ProvisioningTarget) -> Result<JSONValue, AdapterFailure> { .success(.null) }

    func perform(_ command: ProvisioningCommand, for target: ProvisioningTarget) async -> AdapterOutcome {
        if command.userId == "stuck", answered.withLock({ $0.count < others }) {
            return .failed(AdapterFailure(.unavailable, code: "503", message: "busy", retryable: true, retryAfter: .milliseconds(20)))
        }
        answered.withLock { $0.append(command.commandId) }
        return .succeeded(vendorUserId: command.userId, data: nil, vendorResponse: nil)
    }
}

@Suite("Retries in the worker", .timeLimit(.minutes(10)))
struct RetryTests {
    @Test("a command waiting for its retry holds only its own key: with one slot, the other commands of its partition run meanwhile")
    func waitingRetryHoldsOnlyItsKey() async throws {
        try await WorkerKafka.with { kafka in
            let producer = kafka.run(
                try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: kafka.cluster.bootstrapServers), logger: kafka.logger))
            // One partition for everything: the stuck command is first in line.
            try kafka.cluster.createTopic("one", partitions: 1)
            var records = [
                KafkaProducerMessage(
                    topic: "one", key: "tecs-test:stuck",
                    value: #"{"commandId":"stuck-1","target":"tecs-test","operation":"assignRoles","userId":"stuck","roles":[{"name":"r"}]}"#)
            ]
            for index in 0..<30 {
                records.append(
                    KafkaProducerMessage(
                        topic: "one", key: "tecs-test:u\(index)",
                        value: #"{"commandId":"other-\#(index)","target":"tecs-test","operation":"assignRoles","userId":"u\#(index)","roles":[{"name":"r"}]}"#))
            }
            for record in records { try await producer.send(record) }

            let vendor = FlakyVendor(others: 30)
            var target = ProvisioningTarget(name: "tecs-test", vendor: .tecs, baseURL: "http://127.0.0.1:1")
            // Retries enough for the others to pass many times over; none if they cannot pass at all.
            target.policy = TargetPolicy(
                retry: RetryPolicy(maxAttempts: 100, initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(50)),
                breaker: BreakerPolicy(window: 1000, minimumCalls: 1000)
            )
            let processor = CommandProcessor(targets: ["tecs-test": target], adapters: [.tecs: vendor], worker: "test/1")
            var settings = WorkerSettings(repliesTopic: "replies", deadLettersTopic: "dlq", groupId: "retry-workers", workerId: "test/1")
            settings.maxInFlight = 1
            settings.commitInterval = .milliseconds(100)
            let worker = ProvisioningWorker(
                consumer: try KafkaConsumer(configuration: kafka.consumer(group: "retry-workers", topics: ["one"]), logger: kafka.logger),
                producer: try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: kafka.cluster.bootstrapServers), logger: kafka.logger),
                processor: processor, settings: settings, logger: kafka.logger
            )
            let running = Task { await worker.runUntilStopped() }
            let reader = kafka.run(try KafkaConsumer(configuration: kafka.consumer(group: "retry-reader", topics: ["replies"]), logger: kafka.logger))
            let expected = records.count
            let replies = try await withDeadline(60) { () -> [ProvisioningReply] in
                var replies: [ProvisioningReply] = []
                for await message in reader.messages {
                    replies.append(try ProvisioningReply(decoding: message.value ?? []))
                    if replies.count == expected { break }
                }
                return replies
            }
            worker.stop()
            await running.value
            await kafka.stop(reader)

            let order = replies.compactMap(\.commandId)
            let stuck = try #require(replies.first { $0.commandId == "stuck-1" })
            // It is first on the partition and the vendor refuses it until the 30 others are done:
            // it succeeds only because its waits left the one slot to them.
            #expect(stuck.status == .succeeded, "\(stuck.error?.message ?? "")")
            #expect(stuck.attempts > 1)
            // The vendor's order, not the replies' (those are published concurrently).
            #expect(vendor.answered.withLock { $0.last } == "stuck-1")
            #expect(Set(order).count == records.count)
        }
    }
}
