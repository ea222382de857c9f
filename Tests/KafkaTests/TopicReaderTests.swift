import Foundation
import Kafka
import Testing

@Suite("Reading a topic without a group", .timeLimit(.minutes(10)))
struct TopicReaderTests {
    /// Writes `count` records with keys `k0`, `k1`, … spread over the partitions by key.
    private func write(_ count: Int, to topic: String, from start: Int = 0, _ kafka: TestCluster) async throws {
        let producer = try kafka.producer()
        for index in start..<(start + count) {
            let report = try await producer.send(KafkaProducerMessage(topic: topic, key: bytes("k\(index % 7)"), value: bytes("\(index)")))
            #expect(report.error == nil)
        }
        await kafka.stop(producer)
    }

    private func values(_ messages: [KafkaConsumerMessage]) -> [Int] {
        messages.compactMap { $0.value.flatMap { Int(String(decoding: $0, as: UTF8.self)) } }
    }

    @Test(
        "a topic is read to the end the broker states, each partition whole and in offset order; records written after an extent taken earlier are read too, not cut off at it"
    )
    func readToEnd() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 3)
            try await write(30, to: topic, kafka)
            let reader = KafkaTopicReader(bootstrapServers: kafka.bootstrapServers, topic: topic, logger: kafka.logger)
            let extent = try await reader.extent()
            #expect(extent.values.map(\.count).reduce(0, +) == 30)
            // The extent is now short of the partitions' ends, as a broker's watermark may be.
            try await write(5, to: topic, from: 30, kafka)

            var read: [KafkaConsumerMessage] = []
            try await reader.read(extent) { read.append($0) }
            #expect(values(read).sorted() == Array(0..<35))
            let now = try await reader.extent()
            for partition in now.keys {
                let offsets = read.filter { $0.partition == partition }.map(\.offset)
                #expect(offsets == Array(now[partition]!), "partition \(partition) in offset order, whole")
            }
            #expect(values(try await reader.readToEnd()).sorted() == Array(0..<35))
        }
    }

    @Test("a read from offsets starts each named partition there and the others at their beginning; from the end it reads nothing")
    func readFromOffsets() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 2)
            try await write(20, to: topic, kafka)
            let reader = KafkaTopicReader(bootstrapServers: kafka.bootstrapServers, topic: topic, logger: kafka.logger)
            let extent = try await reader.extent()
            let partition = try #require(extent.keys.min())
            let skipped = 3
            let read = try await reader.readToEnd(from: .offsets([partition: extent[partition]!.lowerBound + Int64(skipped)]))
            #expect(read.count == 20 - skipped)
            #expect(read.filter { $0.partition == partition }.map(\.offset).first == extent[partition]!.lowerBound + Int64(skipped))
            #expect(try await reader.readToEnd(from: .end).isEmpty)
        }
    }

    @Test("an empty topic and a topic that does not exist read as nothing, at once")
    func emptyAndMissing() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 2)
            let empty = KafkaTopicReader(bootstrapServers: kafka.bootstrapServers, topic: topic, logger: kafka.logger)
            #expect(try await empty.extent().isEmpty)
            #expect(try await empty.readToEnd().isEmpty)
            let missing = KafkaTopicReader(bootstrapServers: kafka.bootstrapServers, topic: "no-such-topic", logger: kafka.logger)
            #expect(try await missing.readToEnd().isEmpty)
        }
    }

    @Test("following hands over what is there and each record written later, and ends when the handler says so")
    func follow() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 3)
            try await write(10, to: topic, kafka)
            let reader = KafkaTopicReader(bootstrapServers: kafka.bootstrapServers, topic: topic, logger: kafka.logger)
            let seenOld = AsyncStream.makeStream(of: Void.self)
            let followed = Task {
                var seen: [Int] = []
                try await reader.follow { message in
                    seen += self.values([message])
                    if seen.count == 10 { seenOld.continuation.yield() }
                    return seen.count < 15
                }
                return seen
            }
            // The later records are written once the earlier ones were handed over: they reach a
            // reader that is already following.
            for await _ in seenOld.stream { break }
            try await write(5, to: topic, from: 10, kafka)
            #expect(try await followed.value.sorted() == Array(0..<15))
        }
    }

    @Test("following ends when its task is cancelled")
    func followCancelled() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 1)
            try await write(1, to: topic, kafka)
            let reader = KafkaTopicReader(bootstrapServers: kafka.bootstrapServers, topic: topic, logger: kafka.logger)
            let first = AsyncStream.makeStream(of: Void.self)
            let followed = Task {
                try await reader.follow { _ in
                    first.continuation.yield()
                    return true
                }
            }
            for await _ in first.stream { break }
            followed.cancel()
            try await followed.value
        }
    }
}
