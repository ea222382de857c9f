import Foundation
import Kafka
import Logging
import ProvisioningContract
import Synchronization
import TestSupport
import Testing

/// What operators and upstream teams see of a running stack: `provisioner dev --keep-running`
/// with the sample commands carrying distinctive secrets, plus traced commands sent by hand.
@Suite("Observability end to end", .timeLimit(.minutes(10)))
struct ObservabilityEndToEndTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Distinctive values for every secret in the samples: if one shows up anywhere, it leaked.
    /// The numbers are too long to turn up by chance inside another (a span's duration,
    /// `60.97531` ms, once held a 5-digit pin).
    static let secrets: [String: String] = [
        "s3cret-Pa55": "Zq7-PASSWORD-ONE", "n3w-Secret-1": "Zq7-PASSWORD-TWO", "Aranda123": "Zq7Pass3word",
        "never-sent": "Zq7-PASSWORD-DRY", "19574328625": "98765432101", "VH488314": "ZQ7PASSPORT", "DC357158": "ZQ7LICENCE",
        "\"code\":\"1235\"": "\"code\":\"975318642\"",
    ]

    /// The samples with the distinctive secrets, and a dry-run copy of every command as a last block.
    static func samples() throws -> (path: String, ids: [String], secretValues: [String]) {
        var text = try String(contentsOf: root.appendingPathComponent("config/samples.jsonl"), encoding: .utf8)
        for (original, distinctive) in secrets { text = text.replacingOccurrences(of: original, with: distinctive) }
        var ids: [String] = []
        var dryRuns: [String] = []
        for line in text.split(separator: "\n") where line.hasPrefix("{") {
            var object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let id = try #require(object["commandId"] as? String)
            ids.append(id)
            guard object["dryRun"] == nil else { continue }
            object["commandId"] = id + "-dry"
            object["dryRun"] = true
            ids.append(id + "-dry")
            dryRuns.append(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        }
        text += "\n\n# Dry runs of them all: the requests they would send, redacted.\n" + dryRuns.joined(separator: "\n") + "\n"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("samples-\(UUID().uuidString).jsonl").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let values = secrets.values.map { $0.replacingOccurrences(of: "\"code\":", with: "").replacingOccurrences(of: "\"", with: "") }
        return (path, ids, values)
    }

    /// `KEY=value` lines of the simulators' credentials file.
    static func credentials() throws -> [String] {
        try String(contentsOf: root.appendingPathComponent("config/simulator.env"), encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") && ($0.contains("PASSWORD") || $0.contains("KEY") || $0.contains("TOKEN")) }
            .compactMap { $0.split(separator: "=", maxSplits: 1).last.map(String.init) }
    }

    @Test(
        "dev --keep-running: JSON logs name the command on every command line and leak no secret; traces continue from command to vendor to reply; replies and dead letters match the published schemas; /metrics counts it all"
    )
    func runningStack() async throws {
        try await withKafkaClients { clients in
            let (samples, sampleIds, secretValues) = try Self.samples()
            let dev = try ProvisionerProcess(
                arguments: [
                    "dev", "--keep-running", "--config", Self.root.appendingPathComponent("config/worker.yaml").path, "--samples", samples,
                    "--credentials", Self.root.appendingPathComponent("config/simulator.env").path,
                ],
                environment: [
                    "LOG_LEVEL": "debug", "PROVISIONER_OBSERVABILITY_LOGFORMAT": "json", "PROVISIONER_OBSERVABILITY_PORT": "0", "PROVISIONER_CONSOLE_PORT": "0",
                ])
            defer { dev.kill() }

            // What it prints to go on by hand.
            var printed: [String] = []
            while !(printed.last ?? "").hasPrefix("Still running") {
                printed.append(try await dev.nextLine())
            }
            while !(printed.last ?? "").contains(" -C -t ") {
                printed.append(try await dev.nextLine())
            }
            func value(after label: String) throws -> String {
                let line = try #require(printed.first { $0.hasPrefix(label) }, "\(label) in \(printed)")
                return String(line.dropFirst(label.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
            }
            let bootstrap = try value(after: "  bootstrap servers")
            let simulator = try value(after: "  simulators")
            let metricsURL = try #require(
                printed.first { $0.hasPrefix("metrics, health: ") }?.split(separator: " ").dropFirst(2).first.map { String($0.dropLast()) })
            #expect(printed.contains { $0.contains("provisioner send --config") && $0.contains(bootstrap) })
            #expect(printed.contains { $0.contains("provisioner replies --config") && $0.contains("--follow") })
            #expect(printed.contains { $0.contains("kcat -b \(bootstrap) -P -t provisioning.commands") })
            #expect(printed.contains { $0.hasPrefix("\(sampleIds.count) replies, 0 duplicates") }, "\(printed)")
            // The console it prints answers with the credentials it prints, and without them not.
            let consoleLine = try #require(printed.first { $0.hasPrefix("console:") }, "\(printed)")
            let consoleURL = try #require(consoleLine.split(separator: " ").first { $0.hasPrefix("http://") }).description
            let consolePassword = try #require(consoleLine.split(separator: " ").last?.dropLast()).description
            #expect(try await ConsoleTests.request(consoleURL + "api/fleet").status == 401)
            let fleet = try await ConsoleTests.request(consoleURL + "api/fleet", basic: "ops:\(consolePassword)")
            #expect(fleet.status == 200, "\(consoleLine)")

            // Two commands by hand: one continuing an upstream trace, one without.
            let upstreamTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
            let upstreamSpan = "00f067aa0ba902b7"
            var logger = Logger(label: "observability-test")
            logger.logLevel = .critical
            let producer = clients.run(try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: logger))
            try await producer.send(
                KafkaProducerMessage(
                    topic: "provisioning.commands", key: "tecs-test:userlogin",
                    value: #"{"commandId":"traced","target":"tecs-test","operation":"resetPassword","userId":"userlogin"}"#,
                    headers: [KafkaHeader(key: "traceparent", value: "00-\(upstreamTrace)-\(upstreamSpan)-01")]
                ))
            try await producer.send(
                KafkaProducerMessage(
                    topic: "provisioning.commands", key: "tecs-test:userlogin",
                    value: #"{"commandId":"untraced","target":"tecs-test","operation":"resetPassword","userId":"userlogin"}"#
                ))
            await clients.stop(producer)

            // Every reply and dead letter, from the start of both topics.
            var configuration = KafkaConsumerConfiguration(
                bootstrapServers: bootstrap, groupId: "observability-\(UUID().uuidString)", topics: ["provisioning.replies", "provisioning.dlq"])
            configuration.properties = ["session.timeout.ms": "6000"]
            let consumer = clients.run(try KafkaConsumer(configuration: configuration, logger: logger))
            let expected = Set(sampleIds + ["traced", "untraced"])
            let records = try await withDeadline(120) {
                var records: [KafkaConsumerMessage] = []
                var answered: Set<String> = []
                // The dead letters arrive on their own topic, maybe after the last reply: wait for as
                // many as the replies announce (contract section 4's categories that go to the DLQ).
                var announced = 0
                var deadLetters = 0
                let dlqCategories: Set<String> = ["invalid_command", "unknown_target", "unauthorized", "unavailable", "vendor_error", "internal"]
                for await message in consumer.messages {
                    records.append(message)
                    if message.topic == "provisioning.replies", let id = message.headers.string("commandId") {
                        answered.insert(id)
                        let reply = try? JSONSerialization.jsonObject(with: Data(message.value ?? [])) as? [String: Any]
                        if let category = (reply?["error"] as? [String: Any])?["category"] as? String, dlqCategories.contains(category) { announced += 1 }
                    }
                    if message.topic == "provisioning.dlq" { deadLetters += 1 }
                    if expected.isSubset(of: answered), deadLetters >= announced { break }
                }
                return records
            }
            await clients.stop(consumer)
            let replies = records.filter { $0.topic == "provisioning.replies" }
            let deadLetters = records.filter { $0.topic == "provisioning.dlq" }
            #expect(Set(replies.compactMap { $0.headers.string("commandId") }) == expected)
            #expect(!deadLetters.isEmpty, "the samples include commands that are dead-lettered")

            // Trace context: continued when given, started when not, and sent to the vendor.
            let observed = try JSONSerialization.jsonObject(with: Data(try await httpGet("\(simulator)/_sim/observed").body.utf8)) as? [String: [String]]
            let vendorTraceparents = observed?["traceparents"] ?? []
            func traceparent(_ id: String) throws -> [Substring] {
                let reply = try #require(replies.first { $0.headers.string("commandId") == id })
                return try #require(reply.headers.string("traceparent"), "\(id) has a traceparent").split(separator: "-")
            }
            let traced = try traceparent("traced")
            let untraced = try traceparent("untraced")
            #expect(traced[1] == upstreamTrace && traced[2] != upstreamSpan, "the reply continues the upstream trace: \(traced)")
            #expect(untraced[1] != upstreamTrace && untraced[1].count == 32, "a command without one starts a trace")
            #expect(vendorTraceparents.contains { $0.hasPrefix("00-\(upstreamTrace)-") && !$0.contains(upstreamSpan) }, "the vendor call carries the trace")
            #expect(vendorTraceparents.contains { $0.hasPrefix("00-\(untraced[1])-") })

            // Metrics with meaningful values.
            let metrics = try await httpGet(metricsURL).body
            #expect(metrics.contains(#"provisioner_replies_total{"#) && metrics.contains(#"status="succeeded""#))
            #expect(metrics.contains("provisioner_vendor_call_duration_seconds_count{"))
            #expect(metrics.contains(#"provisioner_dead_letters_total{category="unknown_target"} "#))
            // Every metric the alert rules and the dashboard query is one the worker exports.
            for file in ["deploy/prometheus/alerts.yml", "deploy/grafana/provisioner.json"] {
                for name in try Self.metricNames(in: Self.root.appendingPathComponent(file)) {
                    #expect(metrics.contains("# TYPE \(name) "), "\(file) queries \(name), which /metrics does not have")
                }
            }
            let issuedTokens = observed?["tokens"] ?? []
            #expect(!issuedTokens.isEmpty, "the simulators issued tokens (ServiceMobility, ASMS)")

            dev.interrupt()
            #expect(try await dev.exitCode() == 0)
            let stderr = await dev.outputs().stderr

            // Logs: one JSON object a line; every line about a command names it.
            let lines = stderr.split(separator: "\n")
            var commandLines = 0
            for line in lines {
                let object = try #require(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON line: \(line)")
                #expect(object["time"] is String && object["level"] is String && object["message"] is String)
                if object["commandId"] != nil {
                    commandLines += 1
                    #expect(object["target"] != nil && object["operation"] != nil, "\(line)")
                }
            }
            let finishedLines = lines.filter { $0.contains(#""message":"command succeeded""#) || $0.contains(#""message":"command failed"#) }
            #expect(finishedLines.count >= expected.count, "a line per command")
            #expect(finishedLines.allSatisfy { $0.contains(#""commandId":"#) && $0.contains(#""target":"#) && $0.contains(#""operation":"#) })
            #expect(
                lines.contains {
                    $0.contains(#""commandId":"tecs-create""#) && $0.contains(#""correlationId":"sample""#) && $0.contains(#""message":"vendor call""#)
                },
                "the vendor call's own debug line names its command")
            #expect(commandLines > expected.count)

            // No secret anywhere: logs, replies (values and headers), dead-letter headers. (A dead
            // letter's value is the original command, byte for byte, by contract.)
            let everything =
                [stderr]
                + replies.map { String(decoding: $0.value ?? [], as: UTF8.self) + $0.headers.map { "\($0.key)=\($0.stringValue ?? "")" }.joined() }
                + deadLetters.map { $0.headers.filter { $0.key.hasPrefix("dlq.") }.map { "\($0.key)=\($0.stringValue ?? "")" }.joined() }
            let lookFor = secretValues + (try Self.credentials()) + issuedTokens
            #expect(lookFor.count > 12)
            for secret in lookFor {
                let leaks = everything.filter { $0.contains(secret) }
                #expect(leaks.isEmpty, "'\(secret)' leaked: \(leaks.first.map { String($0.prefix(600)) } ?? "")")
            }
            // The dry runs show what they would send, with the credentials redacted.
            let dryRun = try #require(replies.first { $0.headers.string("commandId") == "urac-create-john-dry" })
            let dryRunText = String(decoding: dryRun.value ?? [], as: UTF8.self)
            #expect(dryRunText.contains("<redacted>") && dryRunText.contains("/admin/addUser"), "\(dryRunText)")

            // Replies and dead letters as they came from the worker, against the published schemas.
            var recordLines: [String] = []
            for reply in replies {
                let value = try JSONSerialization.jsonObject(with: Data(reply.value ?? []))
                let headers = Dictionary(reply.headers.map { ($0.key, $0.stringValue ?? "") }, uniquingKeysWith: { $1 })
                recordLines.append(
                    String(decoding: try JSONSerialization.data(withJSONObject: ["kind": "reply", "headers": headers, "value": value]), as: UTF8.self))
            }
            for letter in deadLetters {
                let headers = Dictionary(letter.headers.map { ($0.key, $0.stringValue ?? "") }, uniquingKeysWith: { $1 })
                recordLines.append(String(decoding: try JSONSerialization.data(withJSONObject: ["kind": "deadLetter", "headers": headers]), as: UTF8.self))
            }
            let recordsFile = FileManager.default.temporaryDirectory.appendingPathComponent("records-\(UUID().uuidString).jsonl").path
            try recordLines.joined(separator: "\n").write(toFile: recordsFile, atomically: true, encoding: .utf8)
            let validation = try await Self.validate(["records", recordsFile])
            #expect(validation.status == 0, "\(validation.output)")
            #expect(validation.output.contains("\(replies.count) reply"), "\(validation.output)")
        }
    }

    @Test("the AsyncAPI document is 3.0, and every schema it references exists and is valid; the sample commands match the command schema")
    func documents() async throws {
        let asyncapi = try await Self.validate(["asyncapi", Self.root.appendingPathComponent("docs/asyncapi.yaml").path])
        #expect(asyncapi.status == 0, "\(asyncapi.output)")
        var lines: [String] = []
        for line in try String(contentsOf: Self.root.appendingPathComponent("config/samples.jsonl"), encoding: .utf8).split(separator: "\n")
        where line.hasPrefix("{") {
            lines.append(#"{"kind":"command","value":\#(line)}"#)
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("commands-\(UUID().uuidString).jsonl").path
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let commands = try await Self.validate(["records", file])
        #expect(commands.status == 0, "\(commands.output)")
        #expect(commands.output.contains("\(lines.count) command; 0 problem(s)"), "\(commands.output)")
    }

    /// Runs `scripts/validate-messages` (Python, jsonschema from PyPI).
    static func validate(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runToEnd(["python3", root.appendingPathComponent("scripts/validate-messages").path] + arguments)
    }

    /// The metric families a rules file or dashboard names (`_bucket`, `_count` and `_sum` are
    /// a histogram's own series).
    static func metricNames(in file: URL) throws -> Set<String> {
        let text = try String(contentsOf: file, encoding: .utf8)
        let names = text.matches(of: /provisioner_[a-z_]+/).map { String($0.output) }
        return Set(names.map { $0.replacing(/_(bucket|count|sum)$/, with: "") })
    }
}
