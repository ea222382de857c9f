import Kafka
import Logging
import ProvisionerConfiguration

extension KafkaTopicReader {
    /// A reader of `topic` on the configured cluster, with the configured client properties
    /// (security settings, say).
    public init(_ kafka: ProvisionerConfiguration.Kafka, topic: String, logger: Logger) {
        self.init(bootstrapServers: kafka.bootstrapServers, topic: topic, properties: kafka.properties, logger: logger)
    }
}
