import CRdKafka
import Dispatch

/// An `rd_kafka_t *`. librdkafka handles are thread-safe, so the pointer may cross tasks.
struct RDKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Asks a broker for the metadata of one topic (`nil`: all topics) now; the answer also
    /// updates librdkafka's cache of partition leaders. Blocks up to `timeout`.
    func metadata(of topic: String? = nil, timeout: Duration) throws(KafkaError) -> KafkaClusterMetadata {
        let topicHandle = topic.flatMap { rd_kafka_topic_new(pointer, $0, nil) }
        defer { if let topicHandle { rd_kafka_topic_destroy(topicHandle) } }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        try check(rd_kafka_metadata(pointer, topicHandle == nil ? 1 : 0, topicHandle, &metadata, timeout.rdkafkaMilliseconds), "metadata")
        guard let metadata else { throw KafkaError(code: .timedOut, message: "metadata") }
        defer { rd_kafka_metadata_destroy(metadata) }
        return KafkaClusterMetadata(metadata.pointee)
    }
}

/// Runs a call that blocks inside librdkafka (commits, transactions, metadata) on a Dispatch
/// thread, so that it never occupies a thread of Swift's cooperative pool.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws(KafkaError) -> T) async throws(KafkaError) -> T {
    let result: Result<T, KafkaError> = await withCheckedContinuation { continuation in
        blockingQueue.async {
            do throws(KafkaError) {
                continuation.resume(returning: .success(try body()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
    }
    return try result.get()
}

private let blockingQueue = DispatchQueue(label: "kafka.blocking", attributes: .concurrent)

extension Duration {
    /// Whole milliseconds, saturating, for librdkafka's `int timeout_ms` arguments. Named apart
    /// from ProvisioningContract's `Duration.rdkafkaMilliseconds` (`Int64`, the same formula), which
    /// this module cannot import: Kafka depends on nothing of the provisioner's.
    var rdkafkaMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: ms)
    }
}
