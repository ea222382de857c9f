import Kafka
import Logging

/// The embedded cluster with the contract's topics, as `broker` and `dev` start it.
public enum EmbeddedCluster {
    /// Section 1's topics at their default names. The status and redrive-audit topics are
    /// compacted on a real cluster; the embedded one keeps every record (it has no compaction).
    public static let contractTopics = [
        "provisioning.commands", "provisioning.replies", "provisioning.dlq", "provisioning.status", "provisioning.dlq.replays",
    ]

    public static func start(brokers: Int, partitions: Int, debug: String? = nil, logger: Logger) throws -> EmbeddedKafkaCluster {
        let cluster = try EmbeddedKafkaCluster(brokers: brokers, debug: debug, logger: logger)
        for topic in contractTopics {
            try cluster.createTopic(topic, partitions: partitions)
        }
        return cluster
    }
}
