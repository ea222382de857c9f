import Foundation
import Kafka
import Logging
import ServiceLifecycle

/// Reads a topic from its beginning and keeps following it, handing each record to `handle`
/// on its own task. A group of its own: the console never moves anyone's offsets. A `Service`:
/// it ends with the console's graceful shutdown.
struct TopicFollower: Service {
    let topic: String
    let bootstrapServers: String
    let properties: [String: String]
    let logger: Logger
    let handle: @Sendable (KafkaConsumerMessage) -> Void

    func run() async throws {
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: bootstrapServers, groupId: "provisioner-console-\(UUID().uuidString)", topics: [topic])
        configuration.properties = properties.merging(["enable.auto.commit": "false"]) { _, new in new }
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        let handle = self.handle
        await cancelWhenGracefulShutdown {
            for await message in consumer.messages { handle(message) }
        }
        await consumer.close()
    }
}
