import Kafka

/// How a finished command's records (its reply and dead letter) reach Kafka, and how offsets
/// are committed after them: one mode per conforming type, chosen once when the worker is made.
public protocol ReplyPublishing: Sendable {
    /// Hands a command's records over, in order behind every record handed over before for the
    /// same key. Calls `acknowledged` exactly once, from any thread and possibly before
    /// returning, when the command's offset may be committed.
    func publish(_ records: [KafkaProducerMessage], of partition: KafkaTopicPartition, at offset: Int64, acknowledged: @escaping @Sendable () -> Void) async
    /// Commits consumer offsets the way this mode must: after the records they cover are
    /// acknowledged, or in one transaction with them.
    func commit(_ offsets: [KafkaTopicPartitionOffset], consumer: any CommandConsumer) async throws(KafkaError)
    /// Forgets records of partitions this worker no longer owns.
    func drop(_ partitions: Set<KafkaTopicPartition>) async
    /// Whatever the mode does in the background (re-publishing, say), until the task is cancelled.
    func run() async
    func close() async
    /// Transactions committed and producers replaced, for a transactional mode.
    var transactionStatistics: (transactions: Int, producersRebuilt: Int)? { get async }
}
