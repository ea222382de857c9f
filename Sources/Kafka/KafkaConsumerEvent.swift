import Dispatch
import Synchronization

/// What a consumer yields, in the order it happened: a revocation comes after every message of
/// the revoked partitions that was yielded before it.
public enum KafkaConsumerEvent: Sendable {
    case message(KafkaConsumerMessage)
    /// Partitions were added to this member. Their messages follow.
    case partitionsAssigned([KafkaTopicPartition])
    /// Partitions are about to leave this member. They stay assigned, and commits for them still
    /// work, until `complete()` is called (or the consumer's `revokeTimeout` passes). Meanwhile the
    /// consumer yields nothing else: commit with `commit`, not `commitAsync`, whose result would
    /// only arrive afterwards.
    case partitionsRevoked(KafkaPartitionRevocation)
    /// The result of a `commitAsync`.
    case offsetsCommitted(KafkaCommitResult)
    /// An error that did not stop the consumer (a fatal one is followed by the end of the sequence).
    case error(KafkaError)
    /// The broker said the partition has no record at or after this offset now: the reader has
    /// caught up with it. Only for a consumer with `enable.partition.eof` (a group-less one).
    case partitionEnd(KafkaTopicPartitionOffset)
}

/// A pending hand-over of partitions. The consumer holds the partitions until `complete()`,
/// giving the caller time to finish or abandon in-flight work and commit.
public final class KafkaPartitionRevocation: Sendable, CustomStringConvertible {
    public let partitions: [KafkaTopicPartition]
    /// The partitions were lost (session timed out): another member may own them already,
    /// so commits for them will fail and in-flight work should be abandoned.
    public let isLost: Bool
    private let semaphore = DispatchSemaphore(value: 0)
    private let completed = Atomic<Bool>(false)

    public init(partitions: [KafkaTopicPartition], isLost: Bool) {
        self.partitions = partitions
        self.isLost = isLost
    }

    /// Lets the consumer release the partitions. Idempotent.
    public func complete() {
        if !completed.exchange(true, ordering: .acquiringAndReleasing) {
            semaphore.signal()
        }
    }

    public var description: String { "revoke\(isLost ? " (lost)" : "") \(partitions)" }

    /// Blocks the poll thread; false on timeout.
    func wait(timeout: Duration) -> Bool {
        semaphore.wait(timeout: .now() + .milliseconds(Int(timeout.rdkafkaMilliseconds))) == .success
    }
}

/// The outcome of an asynchronous commit.
public struct KafkaCommitResult: Sendable {
    public var offsets: [KafkaTopicPartitionOffset]
    public var error: KafkaError?
}
