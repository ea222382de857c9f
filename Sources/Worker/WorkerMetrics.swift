import Foundation
import Kafka
import Metrics
import Provisioning
import ProvisioningContract

/// What the worker reports about commands and Kafka, through swift-metrics (Prometheus in
/// `run`). Names and labels follow Prometheus conventions; the README lists them with alerts.
enum WorkerMetrics {
    static let consumed = Counter(label: "provisioner_commands_consumed_total")
    static let inFlight = Meter(label: "provisioner_commands_in_flight")
    static let commitFailures = Counter(label: "provisioner_commit_failures_total")

    /// Creates every series whose labels are known before the first command, at zero: a rate
    /// over them works from the start, and a dashboard or an alert finds the metric even on a
    /// worker to which nothing has happened yet. An `increase(...) > 0` alert needs it most:
    /// Prometheus sees a series born at 1 as no increase, so the first dead letter of a
    /// category (or the first refused credential) after a start would never fire it.
    /// `targets` are the configured ones; deploy/prometheus and deploy/grafana query these series.
    static func prepare(targets: some Collection<String>) {
        _ = (consumed, inFlight, commitFailures)
        for kind in ["gap", "confirmed_gap", "repeated"] { _ = Counter(label: "provisioner_offset_anomalies_total", dimensions: [("kind", kind)]) }
        for kind in ["assigned", "revoked", "lost"] { _ = Counter(label: "provisioner_rebalances_total", dimensions: [("kind", kind)]) }
        _ = Timer(label: "provisioner_commit_duration_seconds", preferredDisplayUnit: .seconds)
        for category in ErrorCategory.allCases where category.isDeadLettered { _ = deadLetters(category.rawValue) }
        // A configured target's replies of every operation, succeeded or failed by any category
        // but unknown_target (which names a target that is not configured).
        for target in targets {
            for operation in ProvisioningContract.Operation.allCases {
                _ = replies(target, operation.rawValue, ReplyStatus.succeeded.rawValue, "none")
                for category in ErrorCategory.allCases where category != .unknownTarget {
                    _ = replies(target, operation.rawValue, ReplyStatus.failed.rawValue, category.rawValue)
                }
            }
        }
    }

    /// Creates the lag series of newly assigned partitions, at zero until the first statistics
    /// sample that knows their lag (an existing series keeps its value).
    static func assigned(_ partitions: [KafkaTopicPartition]) {
        for partition in partitions { _ = lagGauge(partition.topic, String(partition.partition)) }
    }

    static func reply(_ reply: ProvisioningReply) {
        replies(reply.target ?? "unknown", reply.operation ?? "unknown", reply.status.rawValue, reply.error?.category.rawValue ?? "none").increment()
    }

    private static let replies = MetricHandles { values in
        Counter(
            label: "provisioner_replies_total", dimensions: [("target", values[0]), ("operation", values[1]), ("status", values[2]), ("category", values[3])])
    }

    static func deadLetter(_ category: ErrorCategory) {
        deadLetters(category.rawValue).increment()
    }

    private static let deadLetters = MetricHandles { Counter(label: "provisioner_dead_letters_total", dimensions: [("category", $0[0])]) }

    /// A partition's records out of sequence: `gap` (read again), `confirmed_gap` (none there
    /// on the second read) or `repeated` (dropped).
    static func offsetAnomaly(_ kind: String) {
        Counter(label: "provisioner_offset_anomalies_total", dimensions: [("kind", kind)]).increment()
    }

    /// `assigned`, `revoked` or `lost` (fenced out of the group).
    static func rebalance(_ kind: String) {
        Counter(label: "provisioner_rebalances_total", dimensions: [("kind", kind)]).increment()
    }

    static func commit(_ duration: Duration) {
        Timer(label: "provisioner_commit_duration_seconds", preferredDisplayUnit: .seconds).record(duration)
    }

    /// Consumer lag per partition, from a librdkafka statistics sample: recorded, and returned
    /// for the status record.
    @discardableResult
    static func lag(_ sample: KafkaStatistics) -> [KafkaTopicPartition: Int64] {
        guard let statistics = try? sample.decode(ConsumerStatistics.self) else { return [:] }
        var lags: [KafkaTopicPartition: Int64] = [:]
        for (topic, partitions) in statistics.topics {
            for (partition, values) in partitions.partitions where partition != "-1" && values.consumerLag >= 0 {
                lagGauge(topic, partition).record(values.consumerLag)
                if let number = Int32(partition) { lags[KafkaTopicPartition(topic: topic, partition: number)] = values.consumerLag }
            }
        }
        return lags
    }

    private static let lagGauge = MetricHandles { Gauge(label: "provisioner_consumer_lag", dimensions: [("topic", $0[0]), ("partition", $0[1])]) }

    /// The part of librdkafka's STATISTICS.md schema read here.
    private struct ConsumerStatistics: Decodable {
        struct Topic: Decodable { let partitions: [String: Partition] }
        struct Partition: Decodable {
            let consumerLag: Int64
            enum CodingKeys: String, CodingKey { case consumerLag = "consumer_lag" }
        }
        let topics: [String: Topic]
    }
}
