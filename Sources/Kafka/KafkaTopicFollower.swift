import Logging
import ServiceLifecycle

/// Follows a topic from its beginning as a `Service`: hands each record to `handle` (on the
/// service's task), with a `KafkaTopicReader`, so no group and no one's offsets are touched.
/// It ends with its group's graceful shutdown (the console's, or a command's signals).
public struct KafkaTopicFollower: Service {
    private let reader: KafkaTopicReader
    private let handle: @Sendable (KafkaConsumerMessage) -> Void

    public init(_ reader: KafkaTopicReader, handle: @escaping @Sendable (KafkaConsumerMessage) -> Void) {
        self.reader = reader
        self.handle = handle
    }

    public func run() async throws {
        let (reader, handle) = (self.reader, self.handle)
        try await cancelWhenGracefulShutdown {
            try await reader.follow { message in
                handle(message)
                return true
            }
        }
    }
}
