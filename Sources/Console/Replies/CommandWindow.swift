import Foundation
import Kafka
import ProvisioningContract
import Synchronization

/// The newest `capacity` commands, for "what happened to this user?": each with what search
/// looks at and its value as a screen may show it (redacted).
final class CommandWindow: Sendable {
    struct Entry: Sendable {
        let partition: Int32
        let offset: Int64
        let key: String?
        let commandId: String?
        let correlationId: String?
        let target: String?
        let operation: String?
        /// `userId`, or `user.userName`.
        let user: String?
        let traceId: String?
        let receivedAt: Date?
        let redactedValue: String
    }

    private let window: Mutex<RecentWindow<Entry>>

    init(capacity: Int) {
        window = Mutex(RecentWindow(capacity: capacity))
    }

    func observe(_ message: KafkaConsumerMessage) {
        let json = message.value.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0)) }
        let redacted: String
        if let json, let data = try? Self.encoder.encode(Redaction.redacted(json)) {
            redacted = String(decoding: data, as: UTF8.self)
        } else {
            redacted = Redaction.scrub(String(decoding: message.value ?? [], as: UTF8.self))
        }
        let traceId = message.headers.traceId
        let entry = Entry(
            partition: message.partition, offset: message.offset, key: message.key.map { String(decoding: $0, as: UTF8.self) },
            commandId: json?["commandId"]?.stringValue, correlationId: json?["correlationId"]?.stringValue, target: json?["target"]?.stringValue,
            operation: json?["operation"]?.stringValue, user: json?["userId"]?.stringValue ?? json?["user"]?["userName"]?.stringValue,
            traceId: traceId, receivedAt: message.timestamp, redactedValue: redacted)
        window.withLock { _ = $0.append(entry) }
    }

    /// Commands whose commandId, correlationId, key or user is exactly `search`.
    func find(_ search: String) -> [Entry] {
        window.withLock { $0.elements.filter { $0.commandId == search || $0.correlationId == search || $0.key == search || $0.user == search } }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

extension Array where Element == KafkaHeader {
    /// The trace id of a W3C `traceparent` header (`00-<trace id>-<span id>-<flags>`).
    var traceId: String? {
        guard let header = string("traceparent") else { return nil }
        let parts = header.split(separator: "-")
        return parts.count == 4 ? String(parts[1]) : nil
    }
}
