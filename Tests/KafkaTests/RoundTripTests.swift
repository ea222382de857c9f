import Foundation
import Kafka
import Testing

@Suite("Produce and consume", .timeLimit(.minutes(10)))
struct RoundTripTests {
    @Test("keys, values and several headers arrive byte for byte")
    func roundTrip() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 3)
            let producer = try kafka.producer()
            let binary: [UInt8] = [0, 1, 2, 0xFF, 0xFE, 0x80, 0x7F, 0x00]
            let sent = [
                KafkaProducerMessage(
                    topic: topic, key: bytes("tecs-test:jdoe"), value: bytes(#"{"commandId":"1","name":"Jürgen ✓"}"#),
                    headers: [
                        KafkaHeader(key: "commandId", value: "1"),
                        KafkaHeader(key: "traceparent", value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                        KafkaHeader(key: "binary", value: binary),
                        KafkaHeader(key: "empty", value: []),
                        KafkaHeader(key: "absent", value: nil),
                        KafkaHeader(key: "commandId", value: "repeated"),
                    ],
                    timestampMilliseconds: 1_795_000_000_123
                ),
                KafkaProducerMessage(topic: topic, key: binary, value: binary, headers: [KafkaHeader(key: "k", value: binary)]),
                KafkaProducerMessage(topic: topic, key: nil, value: bytes("no key"), headers: []),
                KafkaProducerMessage(topic: topic, key: bytes("tombstone"), value: nil),
            ]
            var reports: [KafkaDeliveryReport] = []
            for message in sent {
                reports.append(try await producer.send(message))
            }
            #expect(reports.allSatisfy { $0.error == nil && $0.offset != nil && $0.topic == topic })

            let consumer = try kafka.consumer(group: "g-roundtrip", topics: [topic])
            let received = try await read(sent.count, from: consumer)
            await kafka.stop(consumer)
            await kafka.stop(producer)

            for (message, report) in zip(sent, reports) {
                let match = try #require(received.first { $0.partition == report.partition && $0.offset == report.offset })
                #expect(match.topic == topic)
                #expect(match.key == message.key)
                #expect(match.value == message.value)
                #expect(match.headers == message.headers)
            }
            #expect(received.first { $0.key == bytes("tecs-test:jdoe") }?.timestampMilliseconds == 1_795_000_000_123)
            #expect(received.first { $0.key == bytes("tombstone") }?.value == nil)
        }
    }

    @Test("enqueue reports every record's delivery on deliveryReports")
    func enqueueReports() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 2)
            let producer = try kafka.producer()
            var ids: Set<UInt64> = []
            for index in 0..<100 {
                ids.insert(try producer.enqueue(KafkaProducerMessage(topic: topic, key: "k\(index % 7)", value: "v\(index)")))
            }
            let reported = try await withDeadline(30, "delivery reports") {
                var reported: Set<UInt64> = []
                for await report in producer.deliveryReports {
                    #expect(report.error == nil)
                    reported.insert(report.id)
                    if reported.count == 100 { break }
                }
                return reported
            }
            #expect(reported == ids)
            await kafka.stop(producer)
        }
    }

    @Test("close flushes records that are still queued")
    func closeFlushes() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 1)
            let producer = try kafka.producer(properties: ["linger.ms": "200"])
            for index in 0..<50 {
                try producer.enqueue(KafkaProducerMessage(topic: topic, key: nil, value: "v\(index)"))
            }
            await kafka.stop(producer)
            let consumer = try kafka.consumer(group: "g-flush", topics: [topic])
            let received = try await read(50, from: consumer)
            await kafka.stop(consumer)
            #expect(received.map { String(decoding: $0.value ?? [], as: UTF8.self) } == (0..<50).map { "v\($0)" })
        }
    }

    @Test("calls after close fail with an error instead of touching a destroyed client")
    func callsAfterClose() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 1)
            let producer = try kafka.producer()
            let consumer = try kafka.consumer(group: "g-closed", topics: [topic])
            await kafka.stop(producer)
            await kafka.stop(consumer)

            let sendError = await #expect(throws: KafkaError.self) {
                try await producer.send(KafkaProducerMessage(topic: topic, key: nil, value: "late"))
            }
            #expect(sendError?.code == .destroyed)
            #expect(throws: KafkaError.self) { try producer.enqueue(KafkaProducerMessage(topic: topic, key: nil, value: "late")) }
            let commitError = await #expect(throws: KafkaError.self) {
                try await consumer.commit([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: 1)])
            }
            #expect(commitError?.code == .destroyed)
            // The event sequence ends: what was buffered before close (an assignment and its final
            // revocation, when the group answered quickly) and then nothing.
            var events = consumer.events.makeAsyncIterator()
            var buffered = 0
            while let event = await events.next() {
                buffered += 1
                if case .message = event { Issue.record("a message after close") }
                if buffered > 10 {
                    Issue.record("the events never end")
                    break
                }
            }
        }
    }

    @Test("a client shut down before its run() begins closes without an error: a group consumer's events end, a producer's queue is failed")
    func shutDownBeforeRun() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 1)
            var configuration = KafkaConsumerConfiguration(bootstrapServers: kafka.bootstrapServers, groupId: "g-early", topics: [topic])
            configuration.properties = ["session.timeout.ms": "4000"]
            let consumer = try KafkaConsumer(configuration: configuration, logger: kafka.logger)
            consumer.triggerGracefulShutdown()
            try await consumer.run()
            var events = consumer.events.makeAsyncIterator()
            #expect(await events.next() == nil)

            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: kafka.bootstrapServers), logger: kafka.logger)
            producer.triggerGracefulShutdown()
            try await producer.run()
            #expect(throws: KafkaError.self) { try producer.enqueue(KafkaProducerMessage(topic: topic, key: nil, value: "late")) }
        }
    }
}
