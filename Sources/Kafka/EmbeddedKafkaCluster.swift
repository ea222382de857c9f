import CRdKafka
import Logging

/// A Kafka cluster inside this process: librdkafka's mock cluster, speaking the real Kafka
/// protocol over TCP on loopback, with consumer groups, commits and transactions.
///
/// For development and tests, where no real Kafka can run. Its faults are injected here:
/// brokers going down, request errors, slow round trips. Its limits (librdkafka 2.0.2) are in
/// the README: `read_committed` readers see aborted records, and a rebalance waits about
/// `session.timeout.ms` for members that do not rejoin.
public final class EmbeddedKafkaCluster: @unchecked Sendable {
    /// Comma-separated `host:port` list for `bootstrap.servers`.
    public let bootstrapServers: String
    public let brokerIDs: [Int32]

    private let cluster: OpaquePointer
    private let owner: OpaquePointer
    private let callbacks: RDKafkaCallbacks

    /// Starts `brokers` brokers (ids 1...brokers) on ephemeral loopback ports. `debug` takes
    /// librdkafka debug contexts (e.g. `mock,cgrp`) to log what the brokers see, at debug level.
    public init(brokers: Int = 3, debug: String? = nil, logger: Logger) throws(KafkaError) {
        guard brokers >= 1 else { throw KafkaError.client("a cluster needs at least one broker") }
        let (_, statistics) = AsyncStream.makeStream(of: KafkaStatistics.self, bufferingPolicy: .bufferingNewest(1))
        let callbacks = RDKafkaCallbacks(logger: logger, statistics: statistics)
        // The mock cluster runs its own threads but needs a client handle for logging and timers.
        var properties = ["client.id": "embedded-kafka", "log.connection.close": "false", "log_level": "4"]
        if let debug {
            properties["debug"] = debug
            properties["log_level"] = "7"
        }
        let conf = try RDKafkaConfig.make(properties)
        callbacks.install(on: conf)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError.client("cannot create the embedded cluster's client")
        }
        guard let cluster = rd_kafka_mock_cluster_new(owner, Int32(brokers)) else {
            rd_kafka_destroy(owner)
            throw KafkaError.client("cannot start the embedded cluster")
        }
        self.owner = owner
        self.cluster = cluster
        self.callbacks = callbacks
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        self.brokerIDs = (1...Int32(brokers)).map { $0 }
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(owner)
    }

    /// Creates a topic; `replicationFactor` defaults to the number of brokers (at most 3).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int? = nil) throws(KafkaError) {
        let replicas = replicationFactor ?? min(3, brokerIDs.count)
        try check(rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicas)), "create topic \(name)")
    }

    // MARK: Faults

    /// Closes the broker's connections and refuses new ones until `setBrokerUp`.
    public func setBrokerDown(_ id: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_down(cluster, id), "broker \(id) down")
    }

    public func setBrokerUp(_ id: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_up(cluster, id), "broker \(id) up")
    }

    /// Delays every response of the broker by `roundTripTime`.
    public func setRoundTripTime(_ roundTripTime: Duration, broker id: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_rtt(cluster, id, roundTripTime.rdkafkaMilliseconds), "broker \(id) rtt")
    }

    /// The next requests of `api` (to any broker) fail with `errors`, one error per request.
    public func pushRequestErrors(_ api: KafkaAPIKey, _ errors: [KafkaError.Code]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        codes.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, api.rawValue, codes.count, $0.baseAddress) }
    }

    /// The next request of `api` to broker `id` is answered with `error` after `roundTripTime`.
    /// With `.noError` and a time past the client's request timeout, the broker applies the
    /// request but the client never hears of it: a lost acknowledgement.
    public func pushRequestError(_ api: KafkaAPIKey, broker id: Int32, error: KafkaError.Code, roundTripTime: Duration = .zero) throws(KafkaError) {
        try check(
            crdkafka_mock_broker_push_request_error_rtt(
                cluster, id, api.rawValue, rd_kafka_resp_err_t(rawValue: error.rawValue), roundTripTime.rdkafkaMilliseconds),
            "push request error")
    }

    public func clearRequestErrors(_ api: KafkaAPIKey) {
        rd_kafka_mock_clear_request_errors(cluster, api.rawValue)
    }

    /// Moves the partition's leadership to broker `id` (-1: no leader).
    public func setPartitionLeader(topic: String, partition: Int32, broker id: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_partition_set_leader(cluster, topic, partition, id), "set leader")
    }

    /// Makes broker `id` the coordinator of a consumer group (`group`) or transactional id (`transaction`).
    public func setCoordinator(_ kind: CoordinatorKind, key: String, broker id: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_coordinator_set(cluster, kind.rawValue, key, id), "set coordinator")
    }

    public enum CoordinatorKind: String, Sendable {
        case group
        case transaction
    }
}
