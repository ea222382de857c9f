import CRdKafka

/// Builds an `rd_kafka_conf_t` from string properties, reporting the offending key on failure.
enum RDKafkaConfig {
    static func make(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        // Sorted so that failures are deterministic.
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            var errstr = [CChar](repeating: 0, count: 512)
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let detail = String(errorBuffer: errstr)
                throw KafkaError.client("invalid librdkafka property '\(key)': \(detail)")
            }
        }
        return conf
    }
}

extension String {
    /// Text from a NUL-terminated `errstr` buffer that librdkafka filled.
    init(errorBuffer: [CChar]) {
        self = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
