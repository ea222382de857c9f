import Foundation

/// A record read from Kafka.
public struct KafkaConsumerMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    /// `nil` for a tombstone (null value), distinct from an empty value.
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Milliseconds since the epoch, as set by the producer or the broker; `nil` when absent.
    public var timestampMilliseconds: Int64?

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], timestampMilliseconds: Int64?) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    /// The offset to commit once this message is done.
    public var nextOffset: KafkaTopicPartitionOffset {
        KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: offset + 1)
    }

    public var timestamp: Date? {
        timestampMilliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }
}

/// A record to write to Kafka.
public struct KafkaProducerMessage: Sendable, Hashable {
    public var topic: String
    /// `nil` lets the partitioner choose from the key.
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Milliseconds since the epoch; `nil` lets librdkafka stamp the send time.
    public var timestampMilliseconds: Int64?

    public init(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [], timestampMilliseconds: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    public init(topic: String, key: String?, value: String, headers: [KafkaHeader] = []) {
        self.init(topic: topic, key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: headers)
    }
}

/// The broker's acknowledgement (or final refusal) of a produced record.
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// The identifier `KafkaProducer.enqueue` returned for the record.
    public var id: UInt64
    public var topic: String
    public var partition: Int32
    /// The record's offset; `nil` when delivery failed or the offset is unknown.
    public var offset: Int64?
    /// `nil` on success.
    public var error: KafkaError?

    public init(id: UInt64, topic: String, partition: Int32, offset: Int64?, error: KafkaError?) {
        self.id = id
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.error = error
    }
}
