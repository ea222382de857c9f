import Kafka
import ServiceLifecycle

/// What the worker needs of a Kafka consumer: the Kafka-backed one is `KafkaConsumer`; tests
/// may run the worker in-process on another. Events are read by one task only. As a `Service`
/// its `run()` hosts it until its graceful shutdown, after which events end; the worker runs it
/// in its group and shuts it down last.
public protocol CommandConsumer: Service {
    /// The next message, rebalance or error, in order; nil once the consumer is closed.
    func nextEvent() async -> KafkaConsumerEvent?
    /// The group's committed position of each partition (`KafkaTopicPartitionOffset.invalid` where none).
    func committed(_ partitions: [KafkaTopicPartition]) async throws(KafkaError) -> [KafkaTopicPartitionOffset]
    func commit(_ offsets: [KafkaTopicPartitionOffset]) async throws(KafkaError)
    /// Stop and restart fetching; both return at once.
    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError)
    func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError)
    /// Fetch the partition again from `offset`; returns at once.
    func seek(_ partition: KafkaTopicPartition, to offset: Int64) throws(KafkaError)
    /// Whether the cluster answers a cheap request now (to notice its return after an outage).
    func probe() async -> Bool
    /// librdkafka statistics samples, if the consumer produces them.
    var lagStatistics: AsyncStream<KafkaStatistics>? { get }
}

/// What the worker needs of a Kafka producer for at-least-once publishing. As a `Service` its
/// `run()` hosts it until its graceful shutdown, which delivers (or fails) what is queued.
public protocol RecordProducer: Service {
    /// Queues a record; throws `queueFull` while the producer's queue is full.
    func submit(_ message: KafkaProducerMessage) throws(KafkaError) -> KafkaPendingDelivery
}

extension KafkaConsumer: CommandConsumer {
    public func nextEvent() async -> KafkaConsumerEvent? { await events.next() }

    public func committed(_ partitions: [KafkaTopicPartition]) async throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        try await committed(partitions, timeout: .seconds(10))
    }

    public func commit(_ offsets: [KafkaTopicPartitionOffset]) async throws(KafkaError) {
        try await commit(offsets, timeout: .seconds(10))
    }

    public func probe() async -> Bool {
        guard let topic = configuration.topics.first else { return false }
        return (try? await watermarks(KafkaTopicPartition(topic: topic, partition: 0), timeout: .seconds(1))) != nil
    }

    public var lagStatistics: AsyncStream<KafkaStatistics>? { statistics }
}

extension KafkaProducer: RecordProducer {}
