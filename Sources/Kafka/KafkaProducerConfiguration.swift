/// How a `KafkaProducer` connects. Anything not modelled here goes in `properties`, which are
/// passed to librdkafka as they are and win over the defaults.
public struct KafkaProducerConfiguration: Sendable {
    public var bootstrapServers: String
    /// Set to use transactions; must be stable across restarts of the same logical producer
    /// so that a restarted instance fences its predecessor.
    public var transactionalId: String?
    /// Idempotence keeps broker-side retries from duplicating or reordering records. On by default.
    public var idempotent: Bool = true
    /// Raw librdkafka properties, e.g. `linger.ms` or `statistics.interval.ms`.
    public var properties: [String: String] = [:]
    /// How long the producer's shutdown waits for queued records to be acknowledged before it
    /// fails them (their `KafkaPendingDelivery` throws `destroyed`). Default 30 seconds.
    public var flushTimeout: Duration = .seconds(30)

    public init(bootstrapServers: String, transactionalId: String? = nil, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.transactionalId = transactionalId
        self.properties = properties
    }

    var librdkafkaProperties: [String: String] {
        var result: [String: String] = [
            "bootstrap.servers": bootstrapServers,
            "enable.idempotence": idempotent ? "true" : "false",
            "log.connection.close": "false",
        ]
        if let transactionalId { result["transactional.id"] = transactionalId }
        result.merge(properties) { _, override in override }
        return result
    }
}
