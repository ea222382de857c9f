import Foundation
import Kafka
import Logging
import Testing

@testable import Worker

@Suite("Transactional publishing", .timeLimit(.minutes(10)))
struct TransactionalPublishingTests {
    /// An exactly-once publishing mode on the embedded cluster, counting the producers it makes,
    /// hosted as the worker hosts it, with a running consumer of the commands.
    struct Rig {
        let cluster: EmbeddedKafkaCluster
        let consumer: KafkaConsumer
        let publishing: TransactionalPublishing
        let made = Tally()
        let partition = KafkaTopicPartition(topic: "commands", partition: 0)

        /// Runs `body` with the consumer and the publishing mode running; both are shut down after it.
        static func with(_ body: (Rig) async throws -> Void) async throws {
            try await withKafkaClients { clients in
                let rig = try Rig(clients: clients)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await rig.publishing.run() }
                    defer { group.cancelAll() }
                    try await body(rig)
                }
            }
        }

        private init(clients: KafkaClients) throws {
            let logger = Logger(label: "transactional-publishing-test", factory: { _ in SwiftLogNoOpLogHandler() })
            cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
            for topic in ["commands", "replies"] { try cluster.createTopic(topic, partitions: 1) }
            consumer = clients.run(
                try KafkaConsumer(
                    configuration: KafkaConsumerConfiguration(bootstrapServers: cluster.bootstrapServers, groupId: "workers", topics: ["commands"]),
                    logger: logger))
            let configuration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers, transactionalId: "workers-host/1")
            let made = made
            publishing = TransactionalPublishing(logger: logger) { () throws(KafkaError) -> KafkaProducer in
                made.add()
                return try KafkaProducer(configuration: configuration, logger: logger)
            }
        }

        /// Hands over one command's reply and commits past it, as the worker's committer does.
        func commitOneReply() async throws {
            await publishing.publish([KafkaProducerMessage(topic: "replies", key: "k", value: "reply")], of: partition, at: 0) {}
            try await publishing.commit([KafkaTopicPartitionOffset(partition, offset: 1)], consumer: consumer)
        }
    }

    @Test("the transactional id is registered at start-up, before there is anything to commit, and the first commit uses that producer")
    func registersAtStartUp() async throws {
        try await Rig.with { rig in
            await rig.publishing.prepare()
            #expect(await rig.publishing.registrations == 1, "registered by prepare(), with nothing committed yet")

            try await rig.commitOneReply()
            #expect(await rig.publishing.transactions == 1)
            #expect(rig.made.count == 1, "the commit used the producer registered at start-up")
        }
    }

    @Test("a registration refused at start-up does not stop the worker: the first commit registers a new producer and commits")
    func refusedRegistrationIsMadeAgainAtTheFirstCommit() async throws {
        try await Rig.with { rig in
            // TRANSACTIONAL_ID_AUTHORIZATION_FAILED: the coordinator refuses this id once.
            rig.cluster.pushRequestErrors(.initProducerId, [KafkaError.Code(rawValue: 53)])
            await rig.publishing.prepare()
            #expect(await rig.publishing.registrations == 0)
            #expect(rig.made.count == 1)

            try await rig.commitOneReply()
            #expect(await rig.publishing.registrations == 1)
            #expect(await rig.publishing.transactions == 1)
            #expect(rig.made.count == 2, "the refused producer was closed and a new one made")
        }
    }
}
