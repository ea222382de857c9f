import CRdKafka
import Logging
import ServiceLifecycle

/// Cluster administration: topic creation and metadata. A `Service` like the other clients
/// (`run()` polls until shut down, then releases the client); `with` is the one-shot form.
public final class KafkaAdminClient: KafkaClient, Sendable {
    private let client: RDKafkaClient

    public init(bootstrapServers: String, properties: [String: String] = [:], logger: Logger) throws(KafkaError) {
        var all = ["bootstrap.servers": bootstrapServers, "log.connection.close": "false"]
        all.merge(properties) { _, override in override }
        let (_, statistics) = AsyncStream.makeStream(of: KafkaStatistics.self, bufferingPolicy: .bufferingNewest(1))
        client = try RDKafkaClient(kind: .producer, properties: all, callbacks: RDKafkaCallbacks(logger: logger, statistics: statistics))
    }

    /// Runs `body` with a running client, released when `body` returns or throws, before this
    /// returns: the form for one-shot use (a command-line check, a test's set-up).
    public static func with<T>(
        bootstrapServers: String, properties: [String: String] = [:], logger: Logger, _ body: (KafkaAdminClient) async throws -> T
    ) async throws -> T {
        let client = try KafkaAdminClient(bootstrapServers: bootstrapServers, properties: properties, logger: logger)
        return try await client.scoped(body)
    }

    /// Polls until shut down, then releases the client. At most once.
    public func run() async throws {
        try await client.run(poll: { rd_kafka_poll($0.pointer, 100) }, finish: { _ in true })
    }

    /// Starts the shutdown `run()` completes. Returns at once.
    public func triggerGracefulShutdown() {
        client.requestStop()
    }

    /// Creates a topic. An existing topic is an error (`topicAlreadyExists`).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = -1, timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await client.blocking { handle throws(KafkaError) in
            var errstr = [CChar](repeating: 0, count: 512)
            guard let topic = rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replicationFactor), &errstr, errstr.count) else {
                throw KafkaError.client("invalid topic \(name): \(String(errorBuffer: errstr))")
            }
            defer { rd_kafka_NewTopic_destroy(topic) }
            let queue = rd_kafka_queue_new(handle.pointer)
            defer { rd_kafka_queue_destroy(queue) }
            let options = rd_kafka_AdminOptions_new(handle.pointer, RD_KAFKA_ADMIN_OP_CREATETOPICS)
            defer { rd_kafka_AdminOptions_destroy(options) }
            rd_kafka_AdminOptions_set_request_timeout(options, timeout.rdkafkaMilliseconds, nil, 0)
            var topics: [OpaquePointer?] = [topic]
            rd_kafka_CreateTopics(handle.pointer, &topics, 1, options, queue)
            guard let event = rd_kafka_queue_poll(queue, timeout.rdkafkaMilliseconds + 1000) else {
                throw KafkaError(code: .timedOut, message: "create topic \(name)")
            }
            defer { rd_kafka_event_destroy(event) }
            try check(rd_kafka_event_error(event), "create topic \(name)")
            guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
            var count = 0
            guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
            for index in 0..<count {
                let err = rd_kafka_topic_result_error(results[index])
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    throw KafkaError(
                        err, message: "create topic \(name): \(rd_kafka_topic_result_error_string(results[index]).map { String(cString: $0) } ?? "")")
                }
            }
        }
    }

    /// Brokers, topics and partition leaders as the cluster reports them now. When no broker
    /// answers, the error names what librdkafka last reported for each broker (a refused
    /// connection, a handshake it could not read), not only "transport failure".
    public func metadata(timeout: Duration = .seconds(10)) async throws(KafkaError) -> KafkaClusterMetadata {
        do {
            return try await client.blocking { handle throws(KafkaError) in try handle.metadata(timeout: timeout) }
        } catch {
            let reports = client.callbacks.brokerErrors.withLock { $0 }
            guard !reports.isEmpty else { throw error }
            let said = reports.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            throw KafkaError(code: error.code, message: "\(error.message); the brokers said: \(said)", isRetriable: error.isRetriable)
        }
    }

    /// What librdkafka last reported for each broker it could not use, by `host:port/id`.
    public var brokerErrors: [String: String] { client.callbacks.brokerErrors.withLock { $0 } }

    deinit {
        client.destroyUnstarted()
    }
}

/// A snapshot of the cluster's brokers and topics.
public struct KafkaClusterMetadata: Sendable {
    public struct Broker: Sendable, Hashable {
        public var id: Int32
        public var host: String
        public var port: Int32
    }

    public struct Partition: Sendable, Hashable {
        public var id: Int32
        public var leader: Int32
        public var replicas: [Int32]
        public var inSyncReplicas: [Int32]
    }

    public struct Topic: Sendable, Hashable {
        public var name: String
        public var partitions: [Partition]
        public var error: KafkaError?
    }

    public var brokers: [Broker]
    public var topics: [Topic]

    public func topic(_ name: String) -> Topic? { topics.first { $0.name == name } }

    init(_ raw: rd_kafka_metadata) {
        brokers = (0..<Int(raw.broker_cnt)).map { index in
            let broker = raw.brokers[index]
            return Broker(id: broker.id, host: String(cString: broker.host), port: broker.port)
        }
        topics = (0..<Int(raw.topic_cnt)).map { index in
            let topic = raw.topics[index]
            let partitions = (0..<Int(topic.partition_cnt)).map { index in
                let partition = topic.partitions[index]
                return Partition(
                    id: partition.id,
                    leader: partition.leader,
                    replicas: (0..<Int(partition.replica_cnt)).map { partition.replicas[$0] },
                    inSyncReplicas: (0..<Int(partition.isr_cnt)).map { partition.isrs[$0] }
                )
            }
            return Topic(
                name: String(cString: topic.topic),
                partitions: partitions.sorted { $0.id < $1.id },
                error: topic.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(topic.err)
            )
        }
    }
}
