import Kafka
import ServiceLifecycle

/// How a finished command's records (its reply and dead letter) reach Kafka, and how offsets
/// are committed after them: one mode per conforming type, chosen once when the worker is made.
///
/// As a `Service`, `run()` hosts the mode's producers and its background work until its
/// graceful shutdown, which the worker's group sends only after the final commit; the producers
/// are flushed and closed before `run()` returns.
public protocol ReplyPublishing: Service {
    /// Hands a command's records over, in order behind every record handed over before for the
    /// same key. Calls `acknowledged` exactly once, from any thread and possibly before
    /// returning, when the command's offset may be committed.
    func publish(_ records: [KafkaProducerMessage], of partition: KafkaTopicPartition, at offset: Int64, acknowledged: @escaping @Sendable () -> Void) async
    /// What must happen before the first commit (registering a transactional id), on the
    /// committer's task before its first commit: `prepare` and `commit` are never called at once.
    func prepare() async
    /// Commits the consumer's offsets the way this mode must: after the records they cover are
    /// acknowledged, or in one transaction with them. Only from the committer, one at a time.
    func commit(_ offsets: [KafkaTopicPartitionOffset], consumer: any CommandConsumer) async throws(KafkaError)
    /// Forgets records of partitions this worker no longer owns.
    func drop(_ partitions: Set<KafkaTopicPartition>) async
    /// Transactions committed and producers replaced, for a transactional mode.
    var transactionStatistics: (transactions: Int, producersRebuilt: Int)? { get async }
}
