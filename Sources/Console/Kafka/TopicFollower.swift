import Kafka
import Logging
import ServiceLifecycle

/// Reads a topic from its beginning and keeps following it, handing each record to `handle`
/// (a `KafkaTopicReader`: no group, so the console never moves anyone's offsets). A `Service`:
/// it ends with the console's graceful shutdown.
struct TopicFollower: Service {
    let topic: String
    let bootstrapServers: String
    let properties: [String: String]
    let logger: Logger
    let handle: @Sendable (KafkaConsumerMessage) -> Void

    func run() async throws {
        let reader = KafkaTopicReader(bootstrapServers: bootstrapServers, topic: topic, properties: properties, logger: logger)
        let handle = self.handle
        try await cancelWhenGracefulShutdown {
            try await reader.follow { message in
                handle(message)
                return true
            }
        }
    }
}
