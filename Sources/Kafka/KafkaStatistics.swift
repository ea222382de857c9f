import Foundation

/// One sample of librdkafka's statistics (enabled with the `statistics.interval.ms` property).
/// Kept as the raw JSON that librdkafka documents in STATISTICS.md, so metrics can pick what they need.
public struct KafkaStatistics: Sendable {
    public let json: String

    public init(json: String) { self.json = json }

    /// Decodes the sample into a caller-defined subset of librdkafka's statistics schema.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(json.utf8))
    }
}
