import Logging

/// Reads one topic without joining a consumer group: to the end it has when asked, or on as
/// records arrive. For the tools that look at a topic (reconcile, the console, `dev`, redrive,
/// `replies`, the benchmark): reading moves no one's offsets, leaves no group behind, and starts
/// at once instead of waiting for a group's rebalance.
///
/// Each call uses a consumer of its own, shut down before the call returns or throws. The
/// partitions are those the topic has when the call starts.
public struct KafkaTopicReader: Sendable {
    /// Where a read starts in each partition.
    public enum Start: Sendable, Hashable {
        /// The first record still kept.
        case beginning
        /// Only records written after the call started.
        case end
        /// These offsets; a partition not named starts at its beginning.
        case offsets([Int32: Int64])
    }

    public let topic: String
    private let configuration: KafkaConsumerConfiguration
    private let logger: Logger

    /// `properties` are librdkafka's, for the reader's consumer (security settings, say).
    public init(bootstrapServers: String, topic: String, properties: [String: String] = [:], logger: Logger) {
        self.topic = topic
        // Prefetch kept small: a scan of millions of records holds up to 8 MB of them, not
        // librdkafka's default of 64 MB. Given properties win.
        let reading = ["queued.max.messages.kbytes": "8192"].merging(properties) { _, given in given }
        self.configuration = .groupless(bootstrapServers: bootstrapServers, properties: reading)
        self.logger = logger
    }

    /// Each partition's records now, first to last offset; empty partitions left out.
    public func extent() async throws -> [Int32: Range<Int64>] {
        try await withConsumer { consumer in try await Self.extent(of: topic, with: consumer) }
    }

    /// Hands every record from `start` to the end of each partition to `handle`, one at a time
    /// (nothing is kept here), each partition in offset order. The end is where the broker says
    /// the partition ends once the reader has caught up (its Fetch answer), and never before the
    /// end it reported when the call started: a watermark reported short does not cut the read.
    public func read(from start: Start = .beginning, _ handle: (KafkaConsumerMessage) async throws -> Void) async throws {
        try await withConsumer { consumer in
            let extent = try await Self.extent(of: topic, with: consumer)
            var bounds: [Int32: (from: Int64, to: Int64)] = [:]
            for partition in try await consumer.partitions(of: topic) {
                if let range = extent[partition] {
                    bounds[partition] = (start.first(of: partition, in: range), range.upperBound)
                } else {
                    bounds[partition] = (start.offset(of: partition), 0)
                }
            }
            try await read(consumer, bounds, handle)
        }
    }

    /// Hands `handle` the records of `ranges` (by partition; from an `extent()` taken earlier,
    /// so that several topics are read to one moment) and those written after them up to where
    /// the broker says each partition ends, each partition in offset order.
    public func read(_ ranges: [Int32: Range<Int64>], _ handle: (KafkaConsumerMessage) async throws -> Void) async throws {
        guard !ranges.isEmpty else { return }
        try await withConsumer { consumer in try await read(consumer, ranges.mapValues { ($0.lowerBound, $0.upperBound) }, handle) }
    }

    /// Every record from `start` to the end of each partition, as `read(from:)` reads them.
    public func readToEnd(from start: Start = .beginning) async throws -> [KafkaConsumerMessage] {
        var messages: [KafkaConsumerMessage] = []
        try await read(from: start) { messages.append($0) }
        return messages
    }

    /// Hands every record from `start` to `handle`, and each later one as it arrives, for as
    /// long as `handle` returns true; returns also when the calling task is cancelled.
    public func follow(from start: Start = .beginning, while handle: (KafkaConsumerMessage) async throws -> Bool) async throws {
        try await withConsumer { consumer in
            let partitions = try await consumer.partitions(of: topic)
            try consumer.assign(
                partitions.map { partition in
                    KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: start.offset(of: partition))
                })
            for await message in consumer.messages {
                guard try await handle(message) else { break }
            }
        }
    }

    /// Runs `body` with a consumer of its own, shut down when `body` returns or throws.
    private func withConsumer<T>(_ body: (KafkaConsumer) async throws -> T) async throws -> T {
        try await KafkaConsumer.with(configuration: configuration, logger: logger, body)
    }

    private static func extent(of topic: String, with consumer: KafkaConsumer) async throws(KafkaError) -> [Int32: Range<Int64>] {
        var extent: [Int32: Range<Int64>] = [:]
        for partition in try await consumer.partitions(of: topic) {
            let watermarks = try await consumer.watermarks(KafkaTopicPartition(topic: topic, partition: partition))
            if watermarks.high > watermarks.low { extent[partition] = watermarks.low..<watermarks.high }
        }
        return extent
    }

    /// Reads each partition from `from` until the broker says it has nothing more
    /// (`partitionEnd`) at or past `to`, the end reported earlier. Every record delivered until
    /// then is handed on, including any past `to`: a broker that reports a watermark short
    /// (tansu 0.6 answers ListOffsets with the first offset of the last batch plus one) or
    /// records written since are read, not cut off.
    private func read(
        _ consumer: KafkaConsumer, _ bounds: [Int32: (from: Int64, to: Int64)], _ handle: (KafkaConsumerMessage) async throws -> Void
    ) async throws {
        var remaining = bounds.mapValues(\.to)
        guard !remaining.isEmpty else { return }
        try consumer.assign(remaining.keys.sorted().map { KafkaTopicPartitionOffset(topic: topic, partition: $0, offset: bounds[$0]!.from) })
        for await event in consumer.events {
            switch event {
            case .message(let message) where remaining[message.partition] != nil:
                try await handle(message)
            case .partitionEnd(let end):
                if let wanted = remaining[end.partition], end.offset >= wanted { remaining[end.partition] = nil }
                if remaining.isEmpty { return }
            case .partitionsRevoked(let revocation):
                revocation.complete()
            case .message, .partitionsAssigned, .offsetsCommitted, .error:
                continue
            }
        }
        try Task.checkCancellation()
        throw KafkaError.client("reading \(topic): the consumer stopped before the partitions' ends \(remaining.sorted { $0.key < $1.key })")
    }
}

extension KafkaTopicReader.Start {
    /// The offset to assign for `partition` when reading without knowing its extent.
    func offset(of partition: Int32) -> Int64 {
        switch self {
        case .beginning: KafkaTopicPartitionOffset.beginning
        case .end: KafkaTopicPartitionOffset.end
        case .offsets(let offsets): offsets[partition] ?? KafkaTopicPartitionOffset.beginning
        }
    }

    /// The first offset to read in `partition`, which holds `range`.
    func first(of partition: Int32, in range: Range<Int64>) -> Int64 {
        switch self {
        case .beginning: range.lowerBound
        case .end: range.upperBound
        case .offsets(let offsets): offsets[partition].map { max($0, range.lowerBound) } ?? range.lowerBound
        }
    }
}
