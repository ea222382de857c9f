import Foundation
import Logging
import Observability
import ProvisioningContract
import Synchronization
import Testing
import Tracing

/// Lines a handler wrote, for inspection.
final class LineSink: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var write: @Sendable (String) -> Void { { line in self.lines.withLock { $0.append(line) } } }
}

@Suite("Structured, redacted logs", .timeLimit(.minutes(10)))
struct LogHandlerTests {
    func logger(_ format: LogFormat, sink: LineSink, provider: Logger.MetadataProvider? = nil) -> Logger {
        Logger(label: "test") { label in
            StructuredLogHandler(label: label, format: format, level: .trace, metadataProvider: provider, write: sink.write)
        }
    }

    @Test("JSON lines are objects with time, level, logger, message and the metadata as fields")
    func jsonLines() throws {
        let sink = LineSink()
        logger(.json, sink: sink).info("command \"quoted\"\nsucceeded", metadata: ["commandId": "c-1", "attempts": "2", "nested": ["a": "b"]])
        let line = try #require(sink.all.first)
        #expect(line.hasSuffix("\n") && !line.dropLast().contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "info")
        #expect(object["logger"] as? String == "test")
        #expect(object["message"] as? String == "command \"quoted\"\nsucceeded")
        #expect(object["commandId"] as? String == "c-1")
        #expect((object["nested"] as? [String: String])?["a"] == "b")
        let time = try #require(object["time"] as? String)
        #expect(time.count == 24 && time.hasSuffix("Z"), "\(time)")
    }

    @Test("text lines: time, level, logger, message, key=value")
    func textLines() throws {
        let sink = LineSink()
        logger(.text, sink: sink).warning("commit refused", metadata: ["partition": "3"])
        let line = try #require(sink.all.first)
        #expect(line.contains(" WARNING test: commit refused partition=3"), "\(line)")
    }

    @Test("secrets are redacted by metadata key, by pattern in messages and values, whatever the call site wrote")
    func redaction() throws {
        for format in LogFormat.allCases {
            let sink = LineSink()
            logger(format, sink: sink).error(
                "GET /user?access_token=TOKEN-A1 failed: Authorization: Bearer TOKEN-B2",
                metadata: [
                    "password": "PASS-C3", "x-access-token": "TOKEN-D4", "nationalId": "DOC-E5", "X-Authorization": "Bearer TOKEN-F6",
                    "body": "{\"userName\":\"jo\",\"password\":\"PASS-G7\"}", "url": "https://v/x?tId=1&access_token=TOKEN-H8",
                ])
            let line = try #require(sink.all.first)
            for secret in ["TOKEN-A1", "TOKEN-B2", "PASS-C3", "TOKEN-D4", "DOC-E5", "TOKEN-F6", "PASS-G7", "TOKEN-H8"] {
                #expect(!line.contains(secret), "\(format): \(secret) in \(line)")
            }
            #expect(line.contains("userName") && line.contains("tId=1"), "the rest stays readable: \(line)")
        }
    }

    @Test("metadata providers add their keys to every line")
    func provider() throws {
        let sink = LineSink()
        let provider = Logger.MetadataProvider { ["commandId": "from-context"] }
        logger(.json, sink: sink, provider: provider).info("vendor call")
        #expect(sink.all.first?.contains("\"commandId\":\"from-context\"") == true)
    }
}

@Suite("Redaction", .timeLimit(.minutes(10)))
struct RedactionTests {
    @Test("JSON: sensitive fields by name (ours and the vendors'), known secret values anywhere")
    func json() {
        let value: JSONValue = .object([
            "Password": .string("p1"), "identificationNumber": .string("123"), "pin": .object(["code": .string("9")]),
            "name": .string("says SECRET-VALUE-9 here"), "list": .array([.object(["accessToken": .string("t")])]),
        ])
        let redacted = Redaction.redacted(value, knownSecrets: ["SECRET-VALUE-9"])
        #expect(redacted["Password"] == .string(Redaction.marker))
        #expect(redacted["identificationNumber"] == .string(Redaction.marker))
        #expect(redacted["pin"] == .string(Redaction.marker))
        #expect(redacted["name"] == .string("says <redacted> here"))
        #expect(redacted["list"] == .array([.object(["accessToken": .string(Redaction.marker)])]))
    }

    @Test("text without secrets is left as it is")
    func plainText() {
        let text = "Mandatory fields are not filled email; key tecs-test:john_doe"
        #expect(Redaction.scrub(text) == text)
    }
}

@Suite("W3C trace context", .timeLimit(.minutes(10)))
struct TraceContextTests {
    struct Headers: Extractor, Injector {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }

    @Test("a traceparent is continued: same trace id, a new span id, the flags kept")
    func continued() throws {
        let tracer = TraceContextTracer()
        var context = ServiceContext.topLevel
        tracer.extract(["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"], into: &context, using: Headers())
        let span = tracer.startSpan("command", context: context)
        var out: [String: String] = [:]
        tracer.inject(span.context, into: &out, using: Headers())
        let parent = try #require(out["traceparent"])
        #expect(parent.hasPrefix("00-0af7651916cd43dd8448eb211c80319c-"))
        #expect(!parent.contains("b7ad6b7169203331"))
        #expect(parent.hasSuffix("-01"))
    }

    @Test("without one (or with a malformed one) a new trace starts")
    func started() throws {
        let tracer = TraceContextTracer()
        var context = ServiceContext.topLevel
        tracer.extract(["traceparent": "garbage"], into: &context, using: Headers())
        let first = tracer.startSpan("a", context: context)
        let second = tracer.startSpan("b", context: context)
        var a: [String: String] = [:]
        var b: [String: String] = [:]
        tracer.inject(first.context, into: &a, using: Headers())
        tracer.inject(second.context, into: &b, using: Headers())
        let traceA = try #require(a["traceparent"]).split(separator: "-")[1]
        let traceB = try #require(b["traceparent"]).split(separator: "-")[1]
        #expect(traceA.count == 32 && traceA != traceB)
    }
}
