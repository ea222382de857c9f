import Foundation
import Kafka
import Logging
import Synchronization
import Testing

@Suite("Clients: admin, statistics, logging", .timeLimit(.minutes(10)))
struct ClientTests {
    /// (`createTopic` needs a real broker: the 2.0.2 mock does not implement CreateTopics.)
    @Test("the admin client reports brokers, partitions, leaders and replicas")
    func adminMetadata() async throws {
        try await TestCluster.with(brokers: 3) { kafka in
            let name = try kafka.topic(partitions: 5, replicationFactor: 2)
            let admin = kafka.run(try KafkaAdminClient(bootstrapServers: kafka.bootstrapServers, logger: kafka.logger))
            let metadata = try await admin.metadata()
            await kafka.stop(admin)
            #expect(Set(metadata.brokers.map(\.id)) == [1, 2, 3])
            #expect(metadata.brokers.allSatisfy { $0.host == "127.0.0.1" && $0.port > 0 })
            let topic = try #require(metadata.topic(name))
            #expect(topic.error == nil)
            #expect(topic.partitions.map(\.id) == Array(0..<5))
            // (The 2.0.2 mock reports every broker as a replica, whatever the replication factor.)
            #expect(topic.partitions.allSatisfy { $0.replicas.contains($0.leader) && Set($0.replicas).isSubset(of: [1, 2, 3]) }, "\(topic.partitions)")
            #expect(Set(topic.partitions.map(\.leader)).isSubset(of: [1, 2, 3]))
        }
    }

    @Test("statistics samples arrive when statistics.interval.ms is set, with per-partition consumer lag")
    func statistics() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 1)
            let producer = try kafka.producer()
            for index in 0..<10 { try await producer.send(KafkaProducerMessage(topic: topic, key: nil, value: "\(index)")) }
            await kafka.stop(producer)
            let consumer = try kafka.consumer(group: "g-stats", topics: [topic], properties: ["statistics.interval.ms": "100"])
            _ = try await read(10, from: consumer)

            struct Sample: Decodable {
                struct Topic: Decodable {
                    // swift-format-ignore: AlwaysUseLowerCamelCase
                    struct Partition: Decodable { let consumer_lag: Int64 }
                    let partitions: [String: Partition]
                }
                let type: String
                let topics: [String: Topic]
            }
            let sample = try await withDeadline(30, "a statistics sample with the topic") { () -> Sample? in
                for await statistics in consumer.statistics {
                    let sample = try statistics.decode(Sample.self)
                    if sample.topics[topic]?.partitions["0"] != nil { return sample }
                }
                return nil
            }
            await kafka.stop(consumer)
            #expect(sample?.type == "consumer")
            #expect(sample?.topics[topic]?.partitions["0"] != nil)
        }
    }

    @Test("librdkafka's log lines reach swift-log with their facility")
    func logging() async throws {
        try await TestCluster.with { kafka in
            let lines = LogCapture()
            var logger = Logger(label: "captured") { _ in lines }
            logger.logLevel = .debug
            var configuration = KafkaProducerConfiguration(bootstrapServers: kafka.bootstrapServers)
            configuration.properties = ["debug": "broker"]
            let producer = kafka.run(try KafkaProducer(configuration: configuration, logger: logger))
            let topic = try kafka.topic(partitions: 1)
            try await producer.send(KafkaProducerMessage(topic: topic, key: nil, value: "x"))
            await kafka.stop(producer)
            let captured = lines.entries.withLock { $0 }
            #expect(captured.contains { $0.level == .debug && $0.metadata["rdkafka.facility"] != nil && $0.source == "rdkafka" })
        }
    }

    /// Collects log entries in memory.
    final class LogCapture: LogHandler, @unchecked Sendable {
        struct Entry: Sendable {
            let level: Logger.Level
            let message: String
            let metadata: [String: String]
            let source: String
        }
        let entries = Mutex<[Entry]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let flat = (event.metadata ?? [:]).mapValues { "\($0)" }
            entries.withLock { $0.append(Entry(level: event.level, message: "\(event.message)", metadata: flat, source: event.source)) }
        }
    }
}
