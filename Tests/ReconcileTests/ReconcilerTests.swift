import Foundation
import Kafka
import Logging
import ProvisioningContract
import Reconcile
import Testing

/// The reconcile engine against the embedded cluster, in process: the three topics read without
/// a group, and the unanswered commands re-published as they were.
@Suite("Reconciler over the embedded cluster", .timeLimit(.minutes(10)))
struct ReconcilerTests {
    static let logger = Logger(label: "reconcile-test") { _ in SwiftLogNoOpLogHandler() }

    @Test("commands, replies and dead letters read from the topics give each command's answer; --republish re-sends exactly the unanswered")
    func reconcileAndRepublish() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: Self.logger)
        for topic in ["commands", "replies", "dlq"] { try cluster.createTopic(topic, partitions: 3) }
        let producerConfiguration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers)
        // 30 commands on three partitions; the first 20 answered by replies, one not JSON answered
        // by its dead letter, one not JSON without one, and 9 without a reply.
        var positions: [String: (partition: Int32, offset: Int64)] = [:]
        try await KafkaProducer.with(configuration: producerConfiguration, logger: Self.logger) { producer in
            for index in 0..<30 {
                let value = #"{"commandId":"c-\#(index)","target":"tecs-test","operation":"getUser","userId":"u\#(index)"}"#
                let report = try await producer.send(
                    KafkaProducerMessage(
                        topic: "commands", key: "tecs-test:u\(index)", value: value, headers: [KafkaHeader(key: "traceparent", value: "t-\(index)")]))
                positions["c-\(index)"] = (report.partition, report.offset ?? -1)
            }
            for name in ["broken-1", "broken-2"] {
                let report = try await producer.send(KafkaProducerMessage(topic: "commands", key: name, value: "not json"))
                positions[name] = (report.partition, report.offset ?? -1)
            }
            for index in 0..<20 {
                try await producer.send(
                    KafkaProducerMessage(
                        topic: "replies", key: "tecs-test:u\(index)", value: #"{"commandId":"c-\#(index)","target":"tecs-test"}"#,
                        headers: [KafkaHeader(key: "commandId", value: "c-\(index)")]))
            }
            let broken = positions["broken-1"]!
            try await producer.send(
                KafkaProducerMessage(
                    topic: "dlq", key: "broken-1", value: "not json",
                    headers: [
                        KafkaHeader(key: "dlq.original.topic", value: "commands"), KafkaHeader(key: "dlq.original.partition", value: "\(broken.partition)"),
                        KafkaHeader(key: "dlq.original.offset", value: "\(broken.offset)"),
                    ]))
        }
        func reader(_ topic: String) -> KafkaTopicReader {
            KafkaTopicReader(bootstrapServers: cluster.bootstrapServers, topic: topic, logger: Self.logger)
        }
        let reconciler = Reconciler(commands: reader("commands"), replies: reader("replies"), deadLetters: reader("dlq"))
        // Far in the future: every command is past a grace period of nothing.
        let now = Int64(Date.now.timeIntervalSince1970 * 1000) + 60_000
        let scan = try await reconciler.reconcile(grace: .zero, now: now)
        let total = scan.reconciliation.total
        #expect(total.commands == 32)
        #expect(total.answered == 21)
        #expect(total.unanswered == 11)
        let unanswered = Set(scan.reconciliation.unanswered.map { "\($0.partition)@\($0.offset)" })
        let expected = ((20..<30).map { "c-\($0)" } + ["broken-2"]).map { positions[$0]! }.map { "\($0.partition)@\($0.offset)" }
        #expect(unanswered == Set(expected))

        // A grace period longer than the commands' age: nothing is unanswered yet, all pending.
        let young = try await reconciler.reconcile(grace: .seconds(3600), now: Int64(Date.now.timeIntervalSince1970 * 1000))
        #expect(young.reconciliation.total.unanswered == 0)
        #expect(young.reconciliation.total.pending == 11)

        // Re-published as they were: same key, value and headers, once each.
        let republished = try await reconciler.republish(scan, producer: producerConfiguration, logger: Self.logger)
        #expect(republished == 11)
        let all = try await reader("commands").readToEnd()
        #expect(all.count == 32 + 11)
        let again = all.filter { message in !(positions.values.contains { $0.partition == message.partition && $0.offset == message.offset }) }
        #expect(again.count == 11)
        #expect(
            Set(again.compactMap { $0.headers.string("traceparent") }) == Set((20..<30).map { "t-\($0)" }), "headers kept")
        #expect(again.filter { $0.value == Array("not json".utf8) }.map(\.key) == [Array("broken-2".utf8)])
    }
}
