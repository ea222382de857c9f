import Foundation
import Kafka
import Metrics
import ProvisioningContract

/// What the worker reports about commands and Kafka, through swift-metrics (Prometheus in
/// `run`). Names and labels follow Prometheus conventions; the README lists them with alerts.
enum WorkerMetrics {
    static let consumed = Counter(label: "provisioner_commands_consumed_total")
    static let inFlight = Meter(label: "provisioner_commands_in_flight")
    static let commitFailures = Counter(label: "provisioner_commit_failures_total")

    static func reply(_ reply: ProvisioningReply) {
        Counter(label: "provisioner_replies_total", dimensions: [
            ("target", reply.target ?? "unknown"), ("operation", reply.operation ?? "unknown"),
            ("status", reply.status.rawValue), ("category", reply.error?.category.rawValue ?? "none"),
        ]).increment()
    }

    static func deadLetter(_ category: ErrorCategory) {
        Counter(label: "provisioner_dead_letters_total", dimensions: [("category", category.rawValue)]).increment()
    }

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

    /// Consumer lag per partition, from a librdkafka statistics sample.
    static func lag(_ sample: KafkaStatistics) {
        guard let statistics = try? sample.decode(ConsumerStatistics.self) else { return }
        for (topic, partitions) in statistics.topics {
            for (partition, values) in partitions.partitions where partition != "-1" && values.consumer_lag >= 0 {
                Gauge(label: "provisioner_consumer_lag", dimensions: [("topic", topic), ("partition", partition)])
                    .record(values.consumer_lag)
            }
        }
    }

    /// The part of librdkafka's STATISTICS.md schema read here.
    private struct ConsumerStatistics: Decodable {
        struct Topic: Decodable { let partitions: [String: Partition] }
        struct Partition: Decodable { let consumer_lag: Int64 }
        let topics: [String: Topic]
    }
}
