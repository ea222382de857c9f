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
        // Prefetch kept small: a scan of millions of records holds up to 8 MB of them, not
        // librdkafka's default of 64 MB.
        let reading = ["enable.auto.commit": "false", "queued.max.messages.kbytes": "8192"]
        configuration.properties = kafka.properties.merging(reading) { _, new in new }
        return try KafkaConsumer(configuration: configuration, logger: logger)
    }

    /// Every record written to the topic so far.
    func readToEnd() async throws -> [KafkaConsumerMessage] {
        var messages: [KafkaConsumerMessage] = []
        try await scan(to: try await ends()) { messages.append($0) }
        return messages
    }

    /// Each partition's records now, first to last offset; empty partitions left out.
    func ends() async throws -> [Int32: Range<Int64>] {
        let admin = try KafkaAdminClient(bootstrapServers: kafka.bootstrapServers, properties: [:], logger: logger)
        let partitions = try await admin.metadata().topic(topic)?.partitions.map(\.id) ?? []
        await admin.close()
        guard !partitions.isEmpty else { return [:] }
        let consumer = try consumer()
        var ends: [Int32: Range<Int64>] = [:]
        do {
            for partition in partitions {
                let watermarks = try await consumer.watermarks(KafkaTopicPartition(topic: topic, partition: partition))
                if watermarks.high > watermarks.low { ends[partition] = watermarks.low..<watermarks.high }
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
        return ends
    }

    /// Hands every record before the ends of `ranges` to `handle`, one at a time (nothing is
    /// kept here), each partition in offset order.
    func scan(to ranges: [Int32: Range<Int64>], _ handle: (KafkaConsumerMessage) throws -> Void) async throws {
        var remaining = ranges.mapValues(\.upperBound)
        guard !remaining.isEmpty else { return }
        let consumer = try consumer()
        do {
            for await message in consumer.messages {
                guard let end = remaining[message.partition] else { continue }
                if message.offset < end { try handle(message) }
                if message.offset + 1 >= end { remaining[message.partition] = nil }
                if remaining.isEmpty { break }
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    /// Every record, as it arrives, until the task is cancelled.
    func follow(_ handle: (KafkaConsumerMessage) -> Void) async throws {
        let consumer = try consumer()
        for await message in consumer.messages { handle(message) }
        await consumer.close()
    }
}
