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
/// their keys to every line.
public struct StructuredLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let write: @Sendable (String) -> Void

    public init(
        label: String, format: LogFormat, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil,
        write: @escaping @Sendable (String) -> Void = StructuredLogHandler.standardError
    ) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let own = event.metadata { merged.merge(own) { $1 } }
        if let error = event.error { merged["error"] = "\(error)" }
        let message = Redaction.scrub(event.message.description)
        let time = Timestamp.format(Date())
        switch format {
        case .json:
            var line = "{\"time\":\"\(time)\",\"level\":\"\(event.level.rawValue)\",\"logger\":"
            JSONText.append(label, to: &line)
            line += ",\"message\":"
            JSONText.append(message, to: &line)
            for key in merged.keys.sorted() where !Self.reserved.contains(key) {
                line += ","
                JSONText.append(key, to: &line)
                line += ":"
                JSONText.append(Self.redacted(merged[key]!, key: key), to: &line)
            }
            write(line + "}\n")
        case .text:
            var line = "\(time) \(event.level.rawValue.uppercased()) \(label): \(message)"
            for key in merged.keys.sorted() {
                line += " \(key)=\(Self.text(Self.redacted(merged[key]!, key: key)))"
            }
            write(line + "\n")
        }
    }

    /// Keys of the line itself; metadata cannot overwrite them.
    private static let reserved: Set<String> = ["time", "level", "logger", "message"]

    private static func redacted(_ value: Logger.Metadata.Value, key: String) -> Logger.Metadata.Value {
        if Redaction.isSensitive(key) { return .string(Redaction.marker) }
        switch value {
        case .string(let text): return .string(Redaction.scrub(text))
        case .stringConvertible(let value): return .string(Redaction.scrub(value.description))
        case .array(let items): return .array(items.map { redacted($0, key: "") })
        case .dictionary(let entries): return .dictionary(entries.reduce(into: [:]) { $0[$1.key] = redacted($1.value, key: $1.key) })
        @unknown default: return .string(Redaction.scrub("\(value)"))
        }
    }

    private static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text.contains(" ") ? "\"\(text)\"" : text
        default: "\(value)"
        }
    }

    /// Writes whole lines to standard error, one at a time, so lines of concurrent tasks never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        outputLock.withLock { _ in
            var bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { Foundation.write(2, $0.baseAddress! + offset, $0.count - offset) }
                if written <= 0 { return }
                offset += written
            }
            bytes.removeAll()
        }
    }

    private static let outputLock = Mutex(())
}

/// Minimal JSON writing for log lines.
enum JSONText {
    static func append(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case let control where control.value < 0x20:
                line += "\\u" + String(repeating: "0", count: 4 - String(control.value, radix: 16).count) + String(control.value, radix: 16)
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }

    static func append(_ value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let text): append(text, to: &line)
        case .stringConvertible(let value): append(value.description, to: &line)
        case .array(let items):
            line += "["
            for (index, item) in items.enumerated() {
                if index > 0 { line += "," }
                append(item, to: &line)
            }
            line += "]"
        case .dictionary(let entries):
            line += "{"
            for (index, key) in entries.keys.sorted().enumerated() {
                if index > 0 { line += "," }
                append(key, to: &line)
                line += ":"
                append(entries[key]!, to: &line)
            }
            line += "}"
        @unknown default: append("\(value)", to: &line)
        }
    }
}
