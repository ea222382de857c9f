import Kafka
import Logging
import ProvisionerConfiguration

extension ProvisionerConfiguration.Kafka {
    /// A producer for these settings: `kafka.properties` without the consumer-only ones, which a
    /// producer would reject or warn about.
    public var producerConfiguration: KafkaProducerConfiguration {
        let consumerOnly: Set<String> = [
            "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "group.id", "auto.offset.reset",
            "enable.auto.commit", "partition.assignment.strategy", "isolation.level", "fetch.min.bytes", "fetch.wait.max.ms",
        ]
        return KafkaProducerConfiguration(bootstrapServers: bootstrapServers, properties: properties.filter { !consumerOnly.contains($0.key) })
    }
}
