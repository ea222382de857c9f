import Foundation
import Kafka
import ProvisioningContract

/// A dead letter as operators see it (contract section 5): where it is, what failed, and the
/// original record. `redactedValue` is the only form of the value meant for a screen.
public struct DeadLetter: Sendable, Identifiable {
    /// Where a dead letter sits in the dead-letter topic: what the audit records.
    public struct Position: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
        public var partition: Int32
        public var offset: Int64

        public init(partition: Int32, offset: Int64) {
            self.partition = partition
            self.offset = offset
        }

        public static func < (a: Position, b: Position) -> Bool { (a.partition, a.offset) < (b.partition, b.offset) }
        public var description: String { "\(partition)/\(offset)" }
    }

    public let position: Position
    public var id: Position { position }
    public let key: [UInt8]?
    public let value: [UInt8]?
    public let headers: [KafkaHeader]
    /// When the dead letter was written (Kafka's timestamp), milliseconds since 1970.
    public let timestampMilliseconds: Int64?
    /// From the value when it is a JSON object.
    public let commandId: String?
    public let target: String?
    public let operation: String?

    public init(_ message: KafkaConsumerMessage) {
        position = Position(partition: message.partition, offset: message.offset)
        key = message.key
        value = message.value
        headers = message.headers
        timestampMilliseconds = message.timestampMilliseconds
        let json = message.value.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0)) }
        commandId = json?["commandId"]?.stringValue
        target = json?["target"]?.stringValue
        operation = json?["operation"]?.stringValue
    }

    public var category: String? { headers.string("dlq.error.category") }
    public var code: String? { headers.string("dlq.error.code") }
    public var errorMessage: String? { headers.string("dlq.error.message") }
    public var failedAt: Date? { headers.string("dlq.failed.at").flatMap { try? Timestamp.parse($0) } }
    public var originalTopic: String? { headers.string("dlq.original.topic") }
    public var keyText: String? { key.map { String(decoding: $0, as: UTF8.self) } }

    /// The value for a screen: a JSON value with its secrets replaced as log lines have them,
    /// anything else as scrubbed text.
    public var redactedValue: String {
        guard let value else { return "" }
        if let json = try? JSONDecoder().decode(JSONValue.self, from: Data(value)) {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(Redaction.redacted(json)) { return String(decoding: data, as: UTF8.self) }
        }
        return Redaction.scrub(String(decoding: value, as: UTF8.self))
    }

    /// The headers for a screen: sensitive names' values replaced, the rest scrubbed.
    public var redactedHeaders: [(key: String, value: String)] {
        headers.map { header in
            let text = header.stringValue ?? "<\(header.value?.count ?? 0) bytes>"
            return (header.key, Redaction.isSensitive(header.key) ? Redaction.marker : Redaction.scrub(text))
        }
    }

    /// The record a redrive sends: the original key, value and headers, the `dlq.*` headers
    /// replaced by the redrive's (contract section 11).
    func replay(to topic: String, id: String, at: Date, count: Int, value override: [UInt8]? = nil) -> KafkaProducerMessage {
        var replayed = headers.filter { !$0.key.hasPrefix("dlq.") }
        replayed.append(KafkaHeader(key: "dlq.replay.id", value: id))
        replayed.append(KafkaHeader(key: "dlq.replay.at", value: Timestamp.format(at)))
        replayed.append(KafkaHeader(key: "dlq.replay.count", value: "\(count)"))
        return KafkaProducerMessage(topic: topic, key: key, value: override ?? value, headers: replayed)
    }
}
