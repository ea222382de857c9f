import Foundation
import Kafka
import Logging
import ProvisionerConfiguration

/// Reads a topic from the beginning, for the operator tools: to its current end, or on and on.
struct TopicReader {
    let kafka: ProvisionerConfiguration.Kafka
    let topic: String
    let logger: Logger

    private func consumer() throws -> KafkaConsumer {
        // A group of its own, so that reading never moves the workers' (or anyone's) offsets.
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: kafka.bootstrapServers, groupId: "provisioner-cli-\(UUID().uuidString)", topics: [topic])
        configuration.properties = kafka.properties.merging(["enable.auto.commit": "false"]) { _, new in new }
        // A group of one: eager is as good, and safe to close before the first assignment.
        configuration.rebalanceProtocol = .eager
        return try KafkaConsumer(configuration: configuration, logger: logger)
    }

    /// Every record written to the topic so far.
    func readToEnd() async throws -> [KafkaConsumerMessage] {
        let admin = try KafkaAdminClient(bootstrapServers: kafka.bootstrapServers, properties: [:], logger: logger)
        let partitions = try await admin.metadata().topic(topic)?.partitions.map(\.id) ?? []
        await admin.close()
        let consumer = try consumer()
        var ends: [Int32: Int64] = [:]
        for partition in partitions {
            let high = try await consumer.watermarks(KafkaTopicPartition(topic: topic, partition: partition)).high
            if high > 0 { ends[partition] = high }
        }
        var messages: [KafkaConsumerMessage] = []
        if !ends.isEmpty {
            for await message in consumer.messages {
                messages.append(message)
                if let end = ends[message.partition], message.offset + 1 >= end { ends[message.partition] = nil }
                if ends.isEmpty { break }
            }
        }
        await consumer.close()
        return messages
    }

    /// Every record, as it arrives, until the task is cancelled.
    func follow(_ handle: (KafkaConsumerMessage) -> Void) async throws {
        let consumer = try consumer()
        for await message in consumer.messages { handle(message) }
        await consumer.close()
    }
}
