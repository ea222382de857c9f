import Kafka

/// What `/health/ready` reports: whether this worker can take commands now, and if not, why.
/// Vendor trouble does not make a worker unready: its commands wait, retry or go to the DLQ
/// while other targets' commands flow, so restarting the worker would not help.
public struct WorkerHealth: Sendable, Equatable {
    /// The worker has joined its consumer group (it may own no partitions: more workers than
    /// partitions is a valid, if idle, state).
    public var groupJoined = false
    /// The last Kafka problem the consumer reported, until Kafka is heard from again.
    public var kafkaProblem: String?
    public var stopping = false

    public var isReady: Bool { groupJoined && kafkaProblem == nil && !stopping }

    /// Why the worker is not ready; empty when it is.
    public var reasons: [String] {
        var reasons: [String] = []
        if !groupJoined { reasons.append("not a member of the consumer group yet") }
        if let kafkaProblem { reasons.append("Kafka: \(kafkaProblem)") }
        if stopping { reasons.append("stopping") }
        return reasons
    }

    public init() {}

    /// Folds a consumer event in.
    mutating func observe(_ event: KafkaConsumerEvent) {
        switch event {
        case .partitionsAssigned:
            groupJoined = true
            kafkaProblem = nil
        case .partitionsRevoked(let revocation) where revocation.isLost:
            // Fenced out of the group; it rejoins by itself and is assigned again.
            groupJoined = false
        case .message:
            kafkaProblem = nil
        case .error(let error) where error.isFatal || Self.outage.contains(error.code):
            kafkaProblem = error.description
        case .partitionsRevoked, .offsetsCommitted, .error, .partitionEnd:
            break
        }
    }

    /// Errors that mean the cluster is out of reach, as opposed to one failed request.
    private static let outage: Set<KafkaError.Code> = [.allBrokersDown]

    /// Kafka answered a request: whatever was wrong is over.
    mutating func kafkaAnswered() { kafkaProblem = nil }
}
