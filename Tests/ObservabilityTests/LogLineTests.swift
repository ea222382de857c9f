import Foundation
import Logging
import ProvisioningContract
import Synchronization
import Testing
import Tracing

@testable import Observability

/// The log line is written by hand for speed (issue 29): these tests hold it to what the
/// straightforward handler it replaced wrote (kept below as `ReferenceLine`), and to the
/// redaction guarantees, so that an optimisation that lets a secret through fails here.
@Suite("Hand-written log lines", .timeLimit(.minutes(10)))
struct LogLineTests {
    func line(
        _ format: LogFormat, level: Logger.Level = .info, _ message: Logger.Message, metadata: Logger.Metadata = [:],
        handlerMetadata: Logger.Metadata = [:], provided: Logger.Metadata = [:], error: (any Error)? = nil
    ) throws -> String {
        let sink = LineSink()
        var handler = StructuredLogHandler(
            label: "test", format: format, level: .trace, metadataProvider: provided.isEmpty ? nil : Logger.MetadataProvider { provided },
            write: sink.write)
        handler.metadata = handlerMetadata
        handler.log(
            event: LogEvent(level: level, message: message, error: error, metadata: metadata, source: "test", file: #fileID, function: #function, line: #line)
        )
        return try #require(sink.all.first)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Metadata of many shapes: escapes, control characters, non-ASCII, nesting, numbers.
    static let samples: [Logger.Metadata] = [
        [:],
        ["commandId": "c-1", "correlationId": "k-2", "target": "tecs-test", "operation": "createUser", "status": "succeeded", "attempts": "1"],
        ["durationMs": "12.345", "vendorUserId": "7f0c2a9e", "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"],
        ["quote": "say \"hi\"\\ there", "controls": "a\u{0}b\u{1}c\u{1f}d\n\r\t\u{7f}e", "unicode": "Zoë 🙂 日本 \u{2028}"],
        ["nested": ["b": "2", "a": ["x", "y", ["k": "v"]], "c": .stringConvertible(42)]],
        ["list": ["one", "two words", .dictionary([:]), .array([])], "empty": ""],
        ["partition": "3", "offset": .stringConvertible(17), "retryIn": "1.5 seconds", "code": "25012", "category": "conflict"],
        ["message": "not the message", "time": "not the time", "level": "x", "logger": "y", "reason": "vendor said no"],
        ["Z": "last", "a": "first", "B": "middle", "_": "underscore", "0": "digit"],
        ["password": "PASS", "nested": ["apiKey": "k", "items": ["Bearer abc.def", "access_token=xyz", .stringConvertible(7)]], "url": "/x?token=t"],
    ]

    @Test("JSON lines are what the handler they replace wrote, for many shapes of metadata")
    func sameJSON() throws {
        for metadata in Self.samples {
            for message: Logger.Message in ["command succeeded", "with \"quotes\"\nand lines", "token=abc and Bearer xyz.1"] {
                let written = try line(.json, message, metadata: metadata)
                let expected = ReferenceLine.json(label: "test", level: .info, message: "\(message)", metadata: metadata)
                #expect(Self.withoutTime(written, json: true) == Self.withoutTime(expected, json: true), "\(metadata)")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(written.utf8)) as? [String: Any], "\(written)")
                #expect(object["message"] as? String == Redaction.scrub("\(message)"))
            }
        }
    }

    @Test("text lines are what the handler they replace wrote")
    func sameText() throws {
        for metadata in Self.samples where !metadata.values.contains(where: { if case .dictionary(let d) = $0 { d.count > 1 } else { false } }) {
            let written = try line(.text, level: .warning, "commit refused", metadata: metadata)
            let expected = ReferenceLine.text(label: "test", level: .warning, message: "commit refused", metadata: metadata)
            #expect(Self.withoutTime(written, json: false) == Self.withoutTime(expected, json: false))
        }
    }

    @Test("the call's metadata wins over the provider's, which wins over the handler's; the error over all")
    func precedence() throws {
        for format in LogFormat.allCases {
            let written = try line(
                format, "x", metadata: ["k": "call", "error": "call"], handlerMetadata: ["k": "handler", "h": "h", "p": "handler"],
                provided: ["k": "provider", "p": "provider"], error: Failure(description: "boom"))
            let expected =
                format == .json
                ? #""error":"boom","h":"h","k":"call","p":"provider"}"# : #" error=boom h=h k=call p=provider"#
            #expect(written.hasSuffix(expected + "\n"), "\(written)")
        }
    }

    @Test("secrets in nested metadata, the provider's and the handler's metadata and errors are redacted; the rest stays")
    func redactionEverywhere() throws {
        for format in LogFormat.allCases {
            let written = try line(
                format, "calling https://v/x?access_token=TOKEN-A1",
                metadata: [
                    "request": [
                        "headers": ["Authorization": "Bearer TOKEN-B2", "Accept": "application/json"], "query": ["tId=1&apikey=TOKEN-C3", "plain"],
                        "body": ["user": ["password": "PASS-D4", "userName": "jo"]],
                    ],
                    "documents": ["nationalId": "DOC-E5"], "CommandId": "password=PASS-F6", "commandIds": "Bearer TOKEN-G7",
                    "vendorUserId": "secret=TOKEN-H8", "attemptz": .stringConvertible(Failure(description: "token: TOKEN-I9")),
                ],
                handlerMetadata: ["clientSecret": "TOKEN-J10", "note": "Authorization: Bearer TOKEN-K11"],
                provided: ["apiKey": "TOKEN-L12", "trace": "password=PASS-M13"],
                error: Failure(description: "refused: {\"password\":\"PASS-N14\"}"))
            for secret in [
                "TOKEN-A1", "TOKEN-B2", "TOKEN-C3", "PASS-D4", "DOC-E5", "PASS-F6", "TOKEN-G7", "TOKEN-H8", "TOKEN-I9", "TOKEN-J10", "TOKEN-K11",
                "TOKEN-L12", "PASS-M13", "PASS-N14",
            ] {
                #expect(!written.contains(secret), "\(format): \(secret) in \(written)")
            }
            for kept in ["application/json", "tId=1", "plain", "jo"] {
                #expect(written.contains(kept), "\(format): \(kept) missing from \(written)")
            }
        }
    }

    @Test("keys of the plain set are not searched (ids checked where they were made); any other spelling is")
    func plainKeys() throws {
        let written = try line(.json, "x", metadata: ["commandId": "token=VISIBLE-1", "commandID": "token=HIDDEN-2", "traceid": "token=HIDDEN-3"])
        #expect(written.contains("VISIBLE-1"))
        #expect(!written.contains("HIDDEN-2") && !written.contains("HIDDEN-3"), "\(written)")
        var candidates = StructuredLogHandler.plainKeys
        for key in StructuredLogHandler.plainKeys {
            candidates.insert(key.uppercased())
            candidates.insert(String(key.dropLast()))
            candidates.insert(key + "s")
            candidates.insert("x" + key.dropFirst())
        }
        candidates.formUnion(["", "time", "error", "reason", "vendorUserId", "password", "token", "codes", "offsets", "spanID"])
        for key in candidates {
            #expect(StructuredLogHandler.isPlain(key) == StructuredLogHandler.plainKeys.contains(key), "\(key)")
        }
    }

    @Test("JSON strings are escaped as JSONWriter escapes them")
    func escaping() {
        var texts = (0..<128).map { String(UnicodeScalar(UInt8($0))) }
        texts += ["", "plain", "a\"b\\c", "\u{0}\u{0}", "ends with \\", "\"", "Zoë 🙂 \u{2028}\u{85}", String(repeating: "long\n", count: 100)]
        for text in texts {
            var mine: [UInt8] = []
            var theirs: [UInt8] = []
            JSONText.append(text, to: &mine)
            JSONWriter.appendString(text, to: &theirs)
            #expect(mine == theirs, "\(Array(text.utf8))")
        }
    }

    @Test("times are written as Timestamp.format writes them")
    func timestamps() {
        var generator = SystemRandomNumberGenerator()
        var milliseconds: [Int64] = [0, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000, 4_107_542_399_999, 253_402_300_799_999]
        milliseconds += [1_709_164_800_000, 1_709_251_199_999, 1_735_689_599_999, 1_798_761_600_000]  // leap days and year ends
        milliseconds += (0..<5000).map { _ in Int64.random(in: 0..<32_503_680_000_000, using: &generator) }  // to the year 3000
        for value in milliseconds {
            var bytes: [UInt8] = []
            LogTimestamp.append(seconds: value / 1000, milliseconds: Int(value % 1000), to: &bytes)
            // Half a millisecond in: `Timestamp.format` truncates a binary fraction.
            let expected = Timestamp.format(Date(timeIntervalSince1970: (Double(value) + 0.5) / 1000))
            #expect(String(decoding: bytes, as: UTF8.self) == expected, "\(value)")
        }
        var now: [UInt8] = []
        LogTimestamp.append(to: &now)
        let written = String(decoding: now, as: UTF8.self)
        let parsed = try? Timestamp.parse(written)
        #expect(parsed.map { abs($0.timeIntervalSinceNow) < 5 } == true, "\(written)")
    }

    /// The time is the only part that differs between two lines written a moment apart.
    static func withoutTime(_ line: String, json: Bool) -> String {
        let prefix = json ? #"{"time":""#.count : 0
        var characters = Array(line)
        guard characters.count >= prefix + 24 else { return line }
        characters.replaceSubrange(prefix..<(prefix + 24), with: Array("<time>"))
        return String(characters)
    }
}

@Suite("Log output", .timeLimit(.minutes(10)))
struct LogOutputTests {
    /// A temporary file to write lines to, read back whole.
    final class File: Sendable {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-output-\(UUID().uuidString)").path
        let descriptor: Int32
        init() { descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600) }
        var lines: [Substring] {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        }
        deinit {
            close(descriptor)
            unlink(path)
        }
    }

    @Test("lines from many threads are written whole, each thread's in order, none dropped; flush waits for them", arguments: [8 << 20, 256])
    func wholeAndOrdered(limit: Int) async {
        let file = File()
        let output = LogOutput(descriptor: file.descriptor, limit: limit)
        let threads = 4
        let count = 2000
        await withTaskGroup(of: Void.self) { group in
            for thread in 0..<threads {
                group.addTask {
                    for index in 0..<count {
                        output.write(Array("thread \(thread) line \(index) \(String(repeating: "x", count: index % 50))\n".utf8))
                    }
                }
            }
        }
        output.flush()
        let lines = file.lines
        #expect(lines.count == threads * count)
        var next = [Int](repeating: 0, count: threads)
        for line in lines {
            let parts = line.split(separator: " ")
            guard parts.count >= 4, let thread = Int(parts[1]), let index = Int(parts[3]), thread < threads else {
                Issue.record("a line not whole: \(line)")
                continue
            }
            #expect(index == next[thread], "thread \(thread): \(index) after \(next[thread] - 1)")
            #expect(parts.count == (index % 50 == 0 ? 4 : 5))
            next[thread] = index + 1
        }
    }

    @Test("lines already queued wake no one: a burst wakes the writer a few times, not once per line; idle, it sleeps")
    func fewWakeUps() async throws {
        let file = File()
        let output = LogOutput(descriptor: file.descriptor)
        for index in 0..<5000 {
            output.write(Array("line \(index)\n".utf8))
        }
        output.flush()
        #expect(file.lines.count == 5000)
        // Lines written back to back find the writer busy or lingering; only one after a pause wakes it.
        #expect(output.wakeUps <= 50, "\(output.wakeUps) wake-ups for 5000 lines")
        // Once it has lingered, the writer sleeps until a line comes: no timer while idle.
        try await Task.sleep(for: .milliseconds(50))
        let asleep = output.writerWakeUps
        try await Task.sleep(for: .milliseconds(200))
        #expect(output.writerWakeUps == asleep)
        output.write(Array("after a pause\n".utf8))
        output.flush()
        #expect(file.lines.last == "after a pause")
    }

    @Test("flush returns at once when nothing is buffered, and after every line before it otherwise")
    func flush() {
        let file = File()
        let output = LogOutput(descriptor: file.descriptor)
        output.flush()
        for round in 0..<50 {
            output.write(Array("round \(round)\n".utf8))
            output.flush()
            #expect(file.lines.count == round + 1)
        }
    }
}

/// The handler as it was before issue 29: merged dictionaries, sorted keys, `JSONValue` through
/// `JSONWriter`, `Timestamp.format`. What the hand-written line must equal.
enum ReferenceLine {
    static let reserved: Set<String> = ["time", "level", "logger", "message"]

    static func json(label: String, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var json = JSONWriter(capacity: 384)
        json.beginObject()
        json.key("time")
        json.string(Timestamp.format(Date()))
        json.key("level")
        json.string(level.rawValue)
        json.key("logger")
        json.string(label)
        json.key("message")
        json.string(Redaction.scrub(message))
        for key in metadata.keys.sorted() where !reserved.contains(key) {
            json.key(key)
            json.value(Self.json(redacted(metadata[key]!, key: key)))
        }
        json.endObject()
        return String(decoding: json.bytes, as: UTF8.self) + "\n"
    }

    static func text(label: String, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var text = "\(Timestamp.format(Date())) \(level.rawValue.uppercased()) \(label): \(Redaction.scrub(message))"
        for key in metadata.keys.sorted() {
            text += " \(key)=\(Self.text(redacted(metadata[key]!, key: key)))"
        }
        return text + "\n"
    }

    static func redacted(_ value: Logger.Metadata.Value, key: String) -> Logger.Metadata.Value {
        if StructuredLogHandler.plainKeys.contains(key) { return value }
        if Redaction.isSensitive(key) { return .string(Redaction.marker) }
        switch value {
        case .string(let text): return .string(Redaction.scrub(text))
        case .stringConvertible(let value): return .string(Redaction.scrub(value.description))
        case .array(let items): return .array(items.map { redacted($0, key: "") })
        case .dictionary(let entries): return .dictionary(entries.reduce(into: [:]) { $0[$1.key] = redacted($1.value, key: $1.key) })
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let value): .string(value.description)
        case .array(let items): .array(items.map(json))
        case .dictionary(let entries): .object(entries.mapValues(json))
        }
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text.contains(" ") ? "\"\(text)\"" : text
        default: "\(value)"
        }
    }
}
