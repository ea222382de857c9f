import Foundation
import Logging
import ProvisioningContract
import Synchronization

/// How log lines are written: one JSON object a line for log collectors, or one readable line
/// for a person at a terminal.
public enum LogFormat: String, Sendable, CaseIterable {
    case json, text
}

/// The worker's log handler: JSON or text lines on standard error, every message and metadata
/// value passed through `Redaction` first, so that no call site can leak a password, a token or
/// a document number by accident. Metadata providers (the command's identity, the trace) add
/// their keys to every line. Lines go to a `LogOutput` (its own writer thread) unless a `write`
/// function is given.
public struct StructuredLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let output: LogOutput?
    private let write: (@Sendable (String) -> Void)?

    public init(
        label: String, format: LogFormat, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil,
        output: LogOutput = .standardError
    ) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.output = output
        self.write = nil
    }

    /// Lines handed to `write` one at a time, as strings (tests).
    public init(
        label: String, format: LogFormat, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil,
        write: @escaping @Sendable (String) -> Void
    ) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.output = nil
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { $1 } }
        if let own = event.metadata { merged.merge(own) { $1 } }
        if let error = event.error { merged["error"] = "\(error)" }
        let message = Redaction.scrub(event.message.description)
        let time = Timestamp.format(Date())
        let keys = merged.keys.sorted()
        var line: [UInt8]
        switch format {
        case .json:
            var json = JSONWriter(capacity: 384)
            json.beginObject()
            json.key("time")
            json.string(time)
            json.key("level")
            json.string(event.level.rawValue)
            json.key("logger")
            json.string(label)
            json.key("message")
            json.string(message)
            for key in keys where !Self.reserved.contains(key) {
                json.key(key)
                json.value(Self.json(Self.redacted(merged[key]!, key: key)))
            }
            json.endObject()
            line = json.bytes
        case .text:
            var text = "\(time) \(event.level.rawValue.uppercased()) \(label): \(message)"
            for key in keys {
                text += " \(key)=\(Self.text(Self.redacted(merged[key]!, key: key)))"
            }
            line = Array(text.utf8)
        }
        line.append(UInt8(ascii: "\n"))
        if let output {
            output.write(line)
        } else {
            write?(String(decoding: line, as: UTF8.self))
        }
    }

    /// Keys of the line itself; metadata cannot overwrite them.
    private static let reserved: Set<String> = ["time", "level", "logger", "message"]

    /// Keys whose values are never secret and were checked where they were made (a command's
    /// identity, outcome and trace, which replies carry as they are): not searched again.
    private static let plain: Set<String> = [
        "commandId", "correlationId", "target", "operation", "status", "attempts", "durationMs", "category", "code",
        "traceId", "spanId", "partition", "offset", "attempt", "retryIn",
    ]

    private static func redacted(_ value: Logger.Metadata.Value, key: String) -> Logger.Metadata.Value {
        if plain.contains(key) { return value }
        if Redaction.isSensitive(key) { return .string(Redaction.marker) }
        switch value {
        case .string(let text): return .string(Redaction.scrub(text))
        case .stringConvertible(let value): return .string(Redaction.scrub(value.description))
        case .array(let items): return .array(items.map { redacted($0, key: "") })
        case .dictionary(let entries): return .dictionary(entries.reduce(into: [:]) { $0[$1.key] = redacted($1.value, key: $1.key) })
        @unknown default: return .string(Redaction.scrub("\(value)"))
        }
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let value): .string(value.description)
        case .array(let items): .array(items.map(json))
        case .dictionary(let entries): .object(entries.mapValues(json))
        @unknown default: .string("\(value)")
        }
    }

    private static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text.contains(" ") ? "\"\(text)\"" : text
        default: "\(value)"
        }
    }
}
