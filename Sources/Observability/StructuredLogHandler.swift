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
///
/// A line is written for every command, so it is written by hand (docs/benchmarks.md, issue 29):
/// the metadata is not merged into a new dictionary but gathered into a stack buffer and sorted
/// there, the line is written into a buffer the thread reuses, JSON strings are copied whole
/// unless they hold a character to escape, the time is formatted without `Date` or `gmtime_r`,
/// and keys known to be plain are recognised without hashing.
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

    /// One metadata entry of a line. Entries are gathered in rank order (the handler's own,
    /// then the provider's, then the call's, then the error), so of entries with the same key
    /// the last one wins once they are sorted by key, stably.
    private struct Entry {
        var key: String
        var value: Logger.Metadata.Value
    }

    /// The entries of a line and their order by key, on the stack.
    private struct Gathered {
        let entries: UnsafeMutableBufferPointer<Entry>
        let order: UnsafeMutableBufferPointer<Int>

        /// Sorts `order` by key, stably: an insertion sort, moving indices only (few entries).
        func sort() {
            guard order.count > 1 else { return }
            for end in 1..<order.count {
                let moving = order[end]
                var index = end
                while index > 0, entries[moving].key < entries[order[index - 1]].key {
                    order[index] = order[index - 1]
                    index -= 1
                }
                order[index] = moving
            }
        }

        /// The entries that make the line, by key: the last of each key.
        func forEachWinner(_ body: (Entry) -> Void) {
            for position in 0..<order.count {
                let entry = entries[order[position]]
                if position + 1 < order.count, entries[order[position + 1]].key == entry.key { continue }
                body(entry)
            }
        }
    }

    public func log(event: LogEvent) {
        let provided = metadataProvider?.get() ?? [:]
        let own = event.metadata ?? [:]
        let count = metadata.count + provided.count + own.count + (event.error == nil ? 0 : 1)
        var line = LineBuffer.take()
        withUnsafeTemporaryAllocation(of: Entry.self, capacity: count) { entries in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { order in
                var filled = 0
                func add(_ key: String, _ value: Logger.Metadata.Value) {
                    entries.initializeElement(at: filled, to: Entry(key: key, value: value))
                    order.initializeElement(at: filled, to: filled)
                    filled += 1
                }
                for (key, value) in metadata { add(key, value) }
                for (key, value) in provided { add(key, value) }
                for (key, value) in own { add(key, value) }
                if let error = event.error { add("error", .string("\(error)")) }
                let gathered = Gathered(
                    entries: UnsafeMutableBufferPointer(rebasing: entries[0..<filled]),
                    order: UnsafeMutableBufferPointer(rebasing: order[0..<filled]))
                defer { gathered.entries.deinitialize() }
                gathered.sort()
                switch format {
                case .json: writeJSON(event, gathered, into: &line)
                case .text: writeText(event, gathered, into: &line)
                }
            }
        }
        line.append(UInt8(ascii: "\n"))
        if let output {
            output.write(line)
        } else {
            write?(String(decoding: line, as: UTF8.self))
        }
        LineBuffer.giveBack(&line)
    }

    private func writeJSON(_ event: LogEvent, _ gathered: Gathered, into line: inout [UInt8]) {
        line.append(contentsOf: #"{"time":""#.utf8)
        LogTimestamp.append(to: &line)
        line.append(contentsOf: #"","level":"#.utf8)
        JSONText.append(event.level.rawValue, to: &line)
        line.append(contentsOf: #","logger":"#.utf8)
        JSONText.append(label, to: &line)
        line.append(contentsOf: #","message":"#.utf8)
        JSONText.append(Redaction.scrub(event.message.description), to: &line)
        gathered.forEachWinner { entry in
            if Self.isReserved(entry.key) { return }
            line.append(UInt8(ascii: ","))
            JSONText.append(entry.key, to: &line)
            line.append(UInt8(ascii: ":"))
            Self.appendJSON(entry.value, key: entry.key, to: &line)
        }
        line.append(UInt8(ascii: "}"))
    }

    private func writeText(_ event: LogEvent, _ gathered: Gathered, into line: inout [UInt8]) {
        LogTimestamp.append(to: &line)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: event.level.rawValue.uppercased().utf8)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: label.utf8)
        line.append(contentsOf: ": ".utf8)
        line.append(contentsOf: Redaction.scrub(event.message.description).utf8)
        gathered.forEachWinner { entry in
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: entry.key.utf8)
            line.append(UInt8(ascii: "="))
            line.append(contentsOf: Self.text(Self.redacted(entry.value, key: entry.key)).utf8)
        }
    }

    /// Keys of the line itself; metadata cannot overwrite them.
    private static func isReserved(_ key: String) -> Bool {
        switch key.utf8.count {
        case 4: key == "time"
        case 5: key == "level"
        case 6: key == "logger"
        case 7: key == "message"
        default: false
        }
    }

    /// Keys whose values are never secret and were checked where they were made (a command's
    /// identity, outcome and trace, which replies carry as they are): not searched again.
    /// `plainKeys` lists them; this recognises them by length first, without hashing.
    static func isPlain(_ key: String) -> Bool {
        switch key.utf8.count {
        case 4: key == "code"
        case 6: key == "status" || key == "target" || key == "spanId" || key == "offset"
        case 7: key == "traceId" || key == "attempt" || key == "retryIn"
        case 8: key == "attempts" || key == "category"
        case 9: key == "commandId" || key == "operation" || key == "partition"
        case 10: key == "durationMs"
        case 13: key == "correlationId"
        default: false
        }
    }

    /// The keys `isPlain` recognises (tests check the two agree).
    static let plainKeys: Set<String> = [
        "commandId", "correlationId", "target", "operation", "status", "attempts", "durationMs", "category", "code",
        "traceId", "spanId", "partition", "offset", "attempt", "retryIn",
    ]

    /// A metadata value as JSON, redacted on the way: plain keys as they are, sensitive keys
    /// masked, everything else scrubbed; dictionaries with their keys sorted.
    private static func appendJSON(_ value: Logger.Metadata.Value, key: String, to line: inout [UInt8]) {
        if isPlain(key) {
            appendPlainJSON(value, to: &line)
            return
        }
        if Redaction.isSensitive(key) {
            JSONText.append(Redaction.marker, to: &line)
            return
        }
        switch value {
        case .string(let text):
            JSONText.append(Redaction.scrub(text), to: &line)
        case .stringConvertible(let value):
            JSONText.append(Redaction.scrub(value.description), to: &line)
        case .array(let items):
            line.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendJSON(item, key: "", to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let entries):
            line.append(UInt8(ascii: "{"))
            for (index, key) in entries.keys.sorted().enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                JSONText.append(key, to: &line)
                line.append(UInt8(ascii: ":"))
                appendJSON(entries[key]!, key: key, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        @unknown default:
            JSONText.append(Redaction.scrub("\(value)"), to: &line)
        }
    }

    private static func appendPlainJSON(_ value: Logger.Metadata.Value, to line: inout [UInt8]) {
        switch value {
        case .string(let text):
            JSONText.append(text, to: &line)
        case .stringConvertible(let value):
            JSONText.append(value.description, to: &line)
        case .array(let items):
            line.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendPlainJSON(item, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let entries):
            line.append(UInt8(ascii: "{"))
            for (index, key) in entries.keys.sorted().enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                JSONText.append(key, to: &line)
                line.append(UInt8(ascii: ":"))
                appendPlainJSON(entries[key]!, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        @unknown default:
            JSONText.append("\(value)", to: &line)
        }
    }

    /// Text lines: the value redacted as JSON lines redact it.
    private static func redacted(_ value: Logger.Metadata.Value, key: String) -> Logger.Metadata.Value {
        if isPlain(key) { return value }
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
}

/// JSON strings as `JSONWriter` writes them (quotes, backslashes and control characters
/// escaped, the rest as UTF-8), but copied in runs between the characters to escape.
enum JSONText {
    static func append(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if start < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index])) }
                start = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
                default:
                    bytes.append(UInt8(ascii: "u"))
                    bytes.append(UInt8(ascii: "0"))
                    bytes.append(UInt8(ascii: "0"))
                    bytes.append(hex(byte >> 4))
                    bytes.append(hex(byte & 0xF))
                }
            }
            if start < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func hex(_ digit: UInt8) -> UInt8 {
        digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
    }
}

/// The time of a log line as `Timestamp.format` writes it (`2026-11-23T10:00:00.042Z`: UTC,
/// milliseconds), from the real-time clock, with the calendar date by plain arithmetic.
enum LogTimestamp {
    static func append(to bytes: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        append(seconds: Int64(now.tv_sec), milliseconds: Int(now.tv_nsec / 1_000_000), to: &bytes)
    }

    static func append(seconds: Int64, milliseconds: Int, to bytes: inout [UInt8]) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        // Days since 1970-01-01 to the proleptic Gregorian calendar (H. Hinnant's civil_from_days).
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        let year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
        guard (0...9999).contains(year) else {
            bytes.append(contentsOf: Timestamp.format(Date(timeIntervalSince1970: Double(seconds) + Double(milliseconds) / 1000)).utf8)
            return
        }
        digits(year, 4, &bytes)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2, &bytes)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2, &bytes)
        bytes.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2, &bytes)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2, &bytes)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2, &bytes)
        bytes.append(UInt8(ascii: "."))
        digits(min(999, milliseconds), 3, &bytes)
        bytes.append(UInt8(ascii: "Z"))
    }

    @inline(__always)
    private static func digits(_ value: Int, _ width: Int, _ bytes: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }
}

/// A line buffer per thread, reused from line to line: a line costs no allocation of its own.
/// A line logged while another is being written on the same thread (a `description` that logs)
/// finds the buffer taken and uses a new one.
enum LineBuffer {
    private final class Box {
        var bytes: [UInt8] = []
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { box in
            guard let box else { return }
            Unmanaged<AnyObject>.fromOpaque(box).release()
        }
        return key
    }()

    private static let capacity = 1024

    static func take() -> [UInt8] {
        var bytes: [UInt8] = []
        if let pointer = pthread_getspecific(key) {
            let box = Unmanaged<Box>.fromOpaque(pointer).takeUnretainedValue()
            swap(&bytes, &box.bytes)
        }
        if bytes.capacity == 0 { bytes.reserveCapacity(capacity) }
        return bytes
    }

    /// Keeps `bytes` (emptied) for the thread's next line.
    static func giveBack(_ bytes: inout [UInt8]) {
        // A very long line's buffer is not kept.
        guard bytes.capacity <= 64 << 10 else { return }
        bytes.removeAll(keepingCapacity: true)
        if let pointer = pthread_getspecific(key) {
            swap(&Unmanaged<Box>.fromOpaque(pointer).takeUnretainedValue().bytes, &bytes)
        } else {
            let box = Box()
            swap(&box.bytes, &bytes)
            pthread_setspecific(key, Unmanaged.passRetained(box).toOpaque())
        }
    }
}
