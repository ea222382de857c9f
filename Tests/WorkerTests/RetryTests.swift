import Foundation
import Kafka
import Logging
import Provisioning
import ProvisioningContract
import Synchronization
import Testing
import Worker

/// A vendor that refuses user "stuck" with a retryable failure a few times, answers everyone
/// else at once, and records the order of its answers.
final class FlakyVendor: VendorAdapter {
    let kind: VendorKind = .tecs
    let failuresLeft = Mutex(3)
    let answered = Mutex<[String]>([])

    func plan(_ command: ProvisioningCommand, for target: ProvisioningTarget) -> Result<JSONValue, AdapterFailure> { .success(.null) }

    func perform(_ command: ProvisioningCommand, for target: ProvisioningTarget) async -> AdapterOutcome {
        if command.userId == "stuck", failuresLeft.withLock({ left in defer { left -= 1 }; return left > 0 }) {
            return .failed(AdapterFailure(.unavailable, code: "503", message: "busy", retryable: true, retryAfter: .milliseconds(300)))
        }
        answered.withLock { $0.append(command.commandId) }
        return .succeeded(vendorUserId: command.userId, data: nil, vendorResponse: nil)
    }
}

@Suite("Retries in the worker")
struct RetryTests {
    @Test("a command waiting for its retry holds only its own key: with one slot, 30 other commands of the same partition finish meanwhile")
    func waitingRetryHoldsOnlyItsKey() async throws {
        let kafka = try WorkerKafka()
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: kafka.cluster.bootstrapServers), logger: kafka.logger)
        // One partition for everything: the stuck command is first in line.
        try kafka.cluster.createTopic("one", partitions: 1)
        var records = [KafkaProducerMessage(topic: "one", key: "tecs-test:stuck", value: #"{"commandId":"stuck-1","target":"tecs-test","operation":"assignRoles","userId":"stuck","roles":[{"name":"r"}]}"#)]
        for index in 0..<30 {
            records.append(KafkaProducerMessage(topic: "one", key: "tecs-test:u\(index)", value: #"{"commandId":"other-\#(index)","target":"tecs-test","operation":"assignRoles","userId":"u\#(index)","roles":[{"name":"r"}]}"#))
        }
        for record in records { try await producer.send(record) }

        let vendor = FlakyVendor()
        var target = ProvisioningTarget(name: "tecs-test", vendor: .tecs, baseURL: "http://127.0.0.1:1")
        target.policy = TargetPolicy(retry: RetryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1)))
        let processor = CommandProcessor(targets: ["tecs-test": target], adapters: [.tecs: vendor], worker: "test/1")
        var settings = WorkerSettings(repliesTopic: "replies", deadLettersTopic: "dlq", groupId: "retry-workers", workerId: "test/1")
        settings.maxInFlight = 1
        settings.commitInterval = .milliseconds(100)
        let worker = ProvisioningWorker(
            consumer: try KafkaConsumer(configuration: kafka.consumer(group: "retry-workers", topics: ["one"]), logger: kafka.logger),
            producer: producer, processor: processor, settings: settings, logger: kafka.logger
        )
        let running = Task { await worker.runUntilStopped() }
        let reader = try KafkaConsumer(configuration: kafka.consumer(group: "retry-reader", topics: ["replies"]), logger: kafka.logger)
        let expected = records.count
        let replies = try await withDeadline(60) { () -> [ProvisioningReply] in
            var replies: [ProvisioningReply] = []
            for await message in reader.messages {
                replies.append(try JSONDecoder().decode(ProvisioningReply.self, from: Data(message.value ?? [])))
                if replies.count == expected { break }
            }
            return replies
        }
        worker.stop()
        await running.value
        await reader.close()

        let order = replies.compactMap(\.commandId)
        let stuck = try #require(replies.first { $0.commandId == "stuck-1" })
        #expect(stuck.status == .succeeded)
        #expect(stuck.attempts == 4)
        // Three pauses of at least 300 ms (Retry-After): the others did not wait for them.
        #expect(order.last == "stuck-1", "every other command finished while stuck-1 waited: \(order)")
        #expect(Set(order).count == records.count)
    }
}
