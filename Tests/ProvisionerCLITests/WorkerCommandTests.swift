import AsyncHTTPClient
import Foundation
import Kafka
import Logging
import ProvisioningContract
import TestSupport
import Testing

/// `provisioner run` and `provisioner send` as operators use them, against `provisioner broker`.
@Suite("provisioner run and send", .timeLimit(.minutes(10)))
struct WorkerCommandTests {
    func configFile(bootstrap: String, healthPort: Int = 0, extra: String = "") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("worker-\(UUID().uuidString).yaml").path
        let yaml = """
            kafka:
              bootstrapServers: \(bootstrap)
              groupId: cli-workers
              properties: { session.timeout.ms: "4000" }
            worker: { maxInFlight: 16, shutdownGracePeriod: 5s }
            observability: { port: \(healthPort) }
            targets:
              tecs-test:
                vendor: tecs
                baseURL: http://127.0.0.1:9/usermanagement-backofficews
                credentials: { username: User1, password: env:CLI_TEST_TECS_PASSWORD }
            \(extra)
            """
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(
        "a worker subprocess answers every command sent with `provisioner send`, reports itself live and ready, counts it all in /metrics, and SIGTERM stops it with exit 0"
    )
    func runAndSend() async throws {
        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "4"])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()
        let healthPort = try freePort()
        let config = try configFile(bootstrap: bootstrap, healthPort: healthPort)
        let environment = ["CLI_TEST_TECS_PASSWORD": "Password1", "LOG_LEVEL": "warning"]

        let worker = try ProvisionerProcess(arguments: ["run", "--config", config], environment: environment)
        defer { worker.kill() }

        // Answered without a vendor: unsupported, expired, unknown target, invalid.
        var lines: [String] = []
        for index in 0..<5 {
            lines.append(#"{"commandId":"unsupported-\#(index)","target":"tecs-test","operation":"deleteUser","userId":"u\#(index)"}"#)
            lines.append(
                #"{"commandId":"expired-\#(index)","target":"tecs-test","operation":"assignRoles","userId":"u\#(index)","roles":[{"name":"r"}],"notAfter":"2020-01-01T00:00:00Z"}"#
            )
            lines.append(#"{"commandId":"unknown-\#(index)","target":"nowhere","operation":"getUser","userId":"u\#(index)"}"#)
            lines.append(#"{"commandId":"invalid-\#(index)","target":"tecs-test","operation":"createUser"}"#)
        }
        lines.append("this is not json")
        let sender = try ProvisionerProcess(arguments: ["send", "--raw", "--config", config], environment: ["LOG_LEVEL": "warning"])
        try sender.send(lines.joined(separator: "\n") + "\n")
        #expect(try await sender.exitCode() == 0)
        #expect(await sender.outputs().stdout.contains("sent 21 commands to provisioning.commands"))

        var logger = Logger(label: "cli-test")
        logger.logLevel = .critical
        let replies = try await collect(21, from: KafkaTopicReader(bootstrapServers: bootstrap, topic: "provisioning.replies", logger: logger))

        let decoded = try replies.map { try ProvisioningReply(decoding: $0.value ?? []) }
        #expect(decoded.count == 21)
        let categories = Dictionary(grouping: decoded.compactMap(\.error?.category), by: { $0 }).mapValues(\.count)
        #expect(categories == [.unsupportedOperation: 5, .expired: 5, .unknownTarget: 5, .invalidCommand: 6])
        #expect(Set(decoded.compactMap(\.commandId)).count == 20)
        // The reply keeps the key `send` gave the command: `<target>:<user>`.
        #expect(replies.first { $0.headers.string("commandId") == "unknown-2" }?.key == Array("nowhere:u2".utf8))

        // It answered, so it is in its group: ready, and live.
        let ready = try await httpGet("http://127.0.0.1:\(healthPort)/health/ready")
        #expect(ready.status == 200)
        #expect(ready.body.contains(#""status":"ready""#))
        #expect(try await httpGet("http://127.0.0.1:\(healthPort)/health/live").status == 200)

        // What it did, in Prometheus' text format.
        let metrics = try await httpGet("http://127.0.0.1:\(healthPort)/metrics")
        #expect(metrics.status == 200)
        let samples = metrics.body.split(separator: "\n").filter { !$0.hasPrefix("#") }
        func value(_ name: String, _ labels: [String] = []) -> String? {
            samples.first { $0.hasPrefix(name) && labels.allSatisfy($0.contains) }.flatMap { $0.split(separator: " ").last.map(String.init) }
        }
        #expect(value("provisioner_commands_consumed_total") == "21")
        #expect(value("provisioner_replies_total{", [#"target="nowhere""#, #"category="unknown_target""#, #"status="failed""#]) == "5")
        #expect(value("provisioner_replies_total{", [#"target="tecs-test""#, #"operation="deleteUser""#, #"category="unsupported_operation""#]) == "5")
        #expect(value("provisioner_dead_letters_total{", [#"category="invalid_command""#]) == "6")
        #expect(value("provisioner_rebalances_total{", [#"kind="assigned""#]) != nil)
        #expect(value("provisioner_commands_in_flight").flatMap(Double.init) == 0)

        worker.terminate()
        #expect(try await worker.exitCode() == 0)
    }

    @Test(
        "`replies` summarises what the workers answered; `dlq list` and `dlq replay` find and re-drive dead letters by filter, preview them, and skip the redriven unless asked"
    )
    func repliesAndDeadLetters() async throws {
        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "3"])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()
        let config = try configFile(bootstrap: bootstrap)
        let environment = ["CLI_TEST_TECS_PASSWORD": "Password1", "LOG_LEVEL": "error"]
        let worker = try ProvisionerProcess(arguments: ["run", "--config", config], environment: environment)
        defer { worker.kill() }
        try await ReplyReader.with(bootstrap: bootstrap) { replies in

            let lines =
                (0..<3).map { #"{"commandId":"lost-\#($0)","target":"nowhere","operation":"getUser","userId":"u\#($0)"}"# }
                + (0..<2).map { #"{"commandId":"unsupported-\#($0)","target":"tecs-test","operation":"deleteUser","userId":"u\#($0)"}"# }
            let sender = try ProvisionerProcess(arguments: ["send", "--config", config], environment: environment)
            try sender.send(lines.joined(separator: "\n") + "\n")
            #expect(try await sender.exitCode() == 0)
            try await replies.wait("five replies") { $0.count == 5 }

            let table = try await run(["replies", "--config", config])
            #expect(table.contains("5 replies, 0 duplicates"))
            #expect(table.contains("unknown_target 3"))
            #expect(table.contains("unsupported_operation 2"))
            #expect(table.contains("latency ms:  p50"))
            let json = try await run(["replies", "--config", config, "--format", "json"])
            let summary = try JSONDecoder().decode(JSONValue.self, from: Data((json.split(separator: "\n").last ?? "").utf8))
            #expect(summary["summary"]?["total"] == .integer(5))

            let listed = try await run(["dlq", "list", "--config", config, "--category", "unknown_target"])
            #expect(listed.contains("3 dead letters"))
            #expect(listed.contains("lost-1"))
            #expect(try await run(["dlq", "list", "--config", config, "--target", "tecs-test"]).contains("0 dead letters"))
            #expect(try await run(["dlq", "list", "--config", config, "--since", "2020-01-01T00:00:00Z"]).contains("3 dead letters"))
            #expect(try await run(["dlq", "list", "--config", config, "--until", "2020-01-01T00:00:00Z"]).contains("0 dead letters"))

            // --follow shows replies as they come and the summary at Ctrl-C.
            let follower = try ProvisionerProcess(arguments: ["replies", "--config", config, "--follow"], environment: ["LOG_LEVEL": "error"])
            defer { follower.kill() }
            #expect(try await follower.nextLine().hasPrefix("commandId"))
            var shown = 0
            while shown < 5 {
                if try await follower.nextLine().contains("failed") { shown += 1 }
            }
            follower.interrupt()
            #expect(try await follower.exitCode() == 0)
            #expect(await follower.outputs().stdout.contains("5 replies, 0 duplicates"))

            // A dry run shows the preview and the records, and sends nothing.
            let filter = ["--config", config, "--target", "nowhere", "--code", "UNKNOWN_TARGET"]
            let preview = try await run(["dlq", "replay", "--dry-run"] + filter)
            #expect(preview.contains("3 dead letters selected (code=UNKNOWN_TARGET target=nowhere)"), "\(preview)")
            #expect(preview.contains("  nowhere  unknown_target  3"), "\(preview)")
            #expect(preview.contains(#""commandId":"lost-2""#), "\(preview)")
            #expect(preview.contains("dry run: nothing sent"))
            #expect(try await run(["replies", "--config", config]).contains("5 replies, 0 duplicates"))

            // Without a terminal it proceeds; the audit then keeps the same letters from going twice.
            let beforeReplay = Timestamp.format(Date())
            let replayed = try await run(["dlq", "replay"] + filter)
            #expect(replayed.contains("completed, 3 of 3 re-published to provisioning.commands"), "\(replayed)")
            try await replies.wait("the replayed commands' replies") { $0.count == 8 }
            #expect(try await run(["replies", "--config", config]).contains("8 replies, 3 duplicates"))
            let again = try await run(["dlq", "replay", "--until", beforeReplay] + filter)
            #expect(again.contains("0 dead letters selected"), "\(again)")
            #expect(again.contains("3 skipped: redriven before (--include-replayed to include them)"), "\(again)")
            #expect(try await run(["dlq", "list", "--until", beforeReplay] + filter).contains("redriven 1x"))
            let forced = try await run(["dlq", "replay", "--until", beforeReplay, "--include-replayed", "--rate", "50", "--yes"] + filter)
            #expect(forced.contains("completed, 3 of 3 re-published"), "\(forced)")
            try await replies.wait("the second redrive's replies") { $0.count == 11 }
            #expect(try await run(["dlq", "list", "--until", beforeReplay] + filter).contains("redriven 2x"))
            // Ctrl-C during a paced redrive cancels it: exit 130, what was sent recorded as sent.
            // The first record goes at once and the next 10 s later, so the Ctrl-C lands between.
            let slow = try ProvisionerProcess(
                arguments: ["dlq", "replay", "--until", beforeReplay, "--include-replayed", "--rate", "0.1", "--yes"] + filter,
                environment: ["LOG_LEVEL": "error"])
            try await replies.wait("the paced redrive's first reply") { $0.count >= 12 }
            slow.interrupt()
            #expect(try await slow.exitCode() == 130)
            let cancelled = await slow.outputs().stdout
            #expect(cancelled.contains(": cancelled, ") && !cancelled.contains("3 of 3"), "\(cancelled)")

            worker.terminate()
            #expect(try await worker.exitCode() == 0)
        }
    }

    @Test("an unset credential whose sample value is in the configuration's simulator.env says where, and only then")
    func unsetCredentialPointsToTheSamples() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try String(contentsOfFile: try configFile(bootstrap: "127.0.0.1:9"), encoding: .utf8)
        let path = folder.appendingPathComponent("worker.yaml").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)

        let withoutSamples = try ProvisionerProcess(arguments: ["run", "--config", path], environment: ["LOG_LEVEL": "error"])
        #expect(try await withoutSamples.exitCode() == 64)
        let plain = await withoutSamples.outputs().stderr
        #expect(plain.contains("targets.tecs-test.credentials.password: environment variable CLI_TEST_TECS_PASSWORD is not set"))
        #expect(!plain.contains("simulator.env"))

        try "# samples\nCLI_TEST_TECS_PASSWORD=Password1\n".write(
            toFile: folder.appendingPathComponent("simulator.env").path, atomically: true, encoding: .utf8)
        let withSamples = try ProvisionerProcess(arguments: ["run", "--config", path], environment: ["LOG_LEVEL": "error"])
        #expect(try await withSamples.exitCode() == 64)
        let hinted = await withSamples.outputs().stderr
        #expect(hinted.contains("the simulators' sample value of CLI_TEST_TECS_PASSWORD is in \(folder.path)/simulator.env"), "\(hinted)")
        #expect(!hinted.contains("Password1"), "the hint names the file, never the value")
    }

    @Test("send refuses lines that are not JSON, naming them, and sends nothing; '-' reads standard input; --raw sends them as they are")
    func sendRefusesLinesThatAreNotJSON() async throws {
        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "3"])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()
        let config = try configFile(bootstrap: bootstrap)
        let input = """
            # a comment, then a command, a blank line, and two lines that are not JSON
            {"commandId":"c1","target":"tecs-test","operation":"getUser","userId":"u1"}

            not json
            {"commandId":"c2",

            """
        let refused = try ProvisionerProcess(arguments: ["send", "--config", config, "-"], environment: ["LOG_LEVEL": "error"])
        try refused.send(input)
        #expect(try await refused.exitCode() == 64)
        let (stdout, stderr) = await refused.outputs()
        #expect(stderr.contains("lines 4, 5 of - not JSON: nothing sent (--raw sends such lines as they are)"), "\(stderr)")
        #expect(!stdout.contains("sent"))
        var logger = Logger(label: "cli-test")
        logger.logLevel = .critical
        let commands = KafkaTopicReader(bootstrapServers: bootstrap, topic: "provisioning.commands", logger: logger)
        #expect(try await commands.readToEnd().isEmpty)

        let raw = try ProvisionerProcess(arguments: ["send", "--raw", "--config", config, "-"], environment: ["LOG_LEVEL": "error"])
        try raw.send(input)
        #expect(try await raw.exitCode() == 0)
        #expect(await raw.outputs().stdout.contains("sent 3 commands to provisioning.commands"))
        let sent = try await commands.readToEnd().compactMap(\.value).map { String(decoding: $0, as: UTF8.self) }
        #expect(Set(sent) == [#"{"commandId":"c1","target":"tecs-test","operation":"getUser","userId":"u1"}"#, #"{"commandId":"c2","#, "not json"])
    }

    @Test(
        "the Kafka tools (dlq replay --dry-run, replies, reconcile, send) run with a file whose console password and vendor credentials name variables they do not have"
    )
    func kafkaToolsReadOnlyKafka() async throws {
        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "3"])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()
        // The targets' password is CLI_TEST_TECS_PASSWORD, which `run` below does not set either.
        let config = try configFile(bootstrap: bootstrap, extra: "console: { auth: { username: ops, password: env:CLI_TEST_CONSOLE_PASSWORD_NOT_SET } }")

        let preview = try await run(["dlq", "replay", "--dry-run", "--config", config])
        #expect(preview.contains("0 dead letters selected"), "\(preview)")
        #expect(try await run(["replies", "--config", config]).contains("0 replies"))
        let sender = try ProvisionerProcess(arguments: ["send", "--config", config], environment: ["LOG_LEVEL": "error"])
        try sender.send("")
        let senderCode = try await sender.exitCode()
        let senderErrors = await sender.outputs().stderr
        #expect(senderCode == 0, "\(senderErrors)")
        let reconcile = try ProvisionerProcess(arguments: ["reconcile", "--config", config], environment: ["LOG_LEVEL": "error"])
        try reconcile.send("")
        let reconcileCode = try await reconcile.exitCode()
        let reconcileErrors = await reconcile.outputs().stderr
        #expect(reconcileCode == 0, "\(reconcileErrors)")
    }

    @Test("a second worker whose observability.port is taken exits 64 naming the key and the port, before it looks for Kafka")
    func metricsPortInUse() async throws {
        let (held, port) = try listeningSocket()
        defer { close(held) }
        let config = try configFile(bootstrap: "127.0.0.1:1", healthPort: port)
        let worker = try ProvisionerProcess(arguments: ["run", "--config", config], environment: ["CLI_TEST_TECS_PASSWORD": "p", "LOG_LEVEL": "error"])
        #expect(try await worker.exitCode() == 64)
        let stderr = await worker.outputs().stderr
        #expect(stderr.contains("configuration error: observability.port: port \(port) is already in use"), "\(stderr)")
    }

    @Test("a console whose console.port is taken exits 64 naming the key and the port")
    func consolePortInUse() async throws {
        let (held, port) = try listeningSocket()
        defer { close(held) }
        let config = try configFile(bootstrap: "127.0.0.1:1", extra: "console: { port: \(port), auth: { username: ops, password: pw } }")
        let console = try ProvisionerProcess(arguments: ["console", "--config", config], environment: ["LOG_LEVEL": "error"])
        #expect(try await console.exitCode() == 64)
        let stderr = await console.outputs().stderr
        #expect(stderr.contains("configuration error: console.port: port \(port) is already in use"), "\(stderr)")
    }

    /// A socket listening on every interface on a port the kernel picks, as another worker's
    /// endpoints would: the descriptor (to close) and the port.
    private func listeningSocket() throws -> (descriptor: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CLIError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = INADDR_ANY
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard listening else {
            close(fd)
            throw CLIError("bind or listen failed")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Runs a `provisioner` command to its end and returns its standard output.
    private func run(_ arguments: [String]) async throws -> String {
        let process = try ProvisionerProcess(arguments: arguments, environment: ["LOG_LEVEL": "error"])
        try process.send("")
        let code = try await process.exitCode()
        let (stdout, stderr) = await process.outputs()
        #expect(code == 0, "\(arguments): \(stderr)")
        return stdout
    }

    @Test("dlq replay --rate 0 exits 64 naming the flag")
    func badRate() async throws {
        let process = try ProvisionerProcess(arguments: ["dlq", "replay", "--rate", "0"], environment: ["LOG_LEVEL": "error"])
        #expect(try await process.exitCode() == 64)
        #expect(await process.outputs().stderr.contains("--rate must be a positive number"))
    }

    @Test("Kafka unreachable at start-up exits 69")
    func kafkaUnreachable() async throws {
        let config = try configFile(bootstrap: "127.0.0.1:1")
        let worker = try ProvisionerProcess(arguments: ["run", "--config", config], environment: ["CLI_TEST_TECS_PASSWORD": "p", "LOG_LEVEL": "error"])
        #expect(try await worker.exitCode() == 69)
        let stderr = await worker.outputs().stderr
        #expect(stderr.contains("Kafka unreachable at 127.0.0.1:1"))
        // What librdkafka last said of the broker, not only "transport failure".
        #expect(stderr.contains("the brokers said: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused"), "\(stderr)")
    }

    @Test("kafka.properties debug reaches librdkafka, and its debug lines reach the log at debug level with their facility")
    func librdkafkaDebug() async throws {
        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "1"])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()
        let config = try configFile(bootstrap: bootstrap)
        let debugging = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(
            of: #"properties: { session.timeout.ms: "4000" }"#, with: #"properties: { session.timeout.ms: "4000", debug: "broker" }"#)
        try debugging.write(toFile: config, atomically: true, encoding: .utf8)
        let sender = try ProvisionerProcess(
            arguments: ["send", "--config", config],
            environment: ["CLI_TEST_TECS_PASSWORD": "p", "LOG_LEVEL": "debug", "PROVISIONER_OBSERVABILITY_LOGFORMAT": "json"])
        try sender.send(#"{"commandId":"debug-1","target":"tecs-test","operation":"getUser","userId":"u"}"# + "\n")
        #expect(try await sender.exitCode() == 0)
        let lines = await sender.outputs().stderr.split(separator: "\n")
        #expect(lines.contains { $0.contains(#""level":"debug""#) && $0.contains(#""rdkafka.facility":"#) }, "\(lines.prefix(5))")
    }

    @Test("a bad configuration exits 64 naming the key")
    func badConfiguration() async throws {
        let config = try configFile(bootstrap: "127.0.0.1:1").replacingOccurrences(of: ".yaml", with: "-bad.yaml")
        try """
        kafka: { bootstrapServers: 127.0.0.1:1, groupId: g }
        worker: { maxInFlight: lots }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let worker = try ProvisionerProcess(arguments: ["run", "--config", config])
        #expect(try await worker.exitCode() == 64)
        #expect(await worker.outputs().stderr.contains("worker.maxInFlight"))
    }

    /// The topic's first `count` records, as they arrive (a minute at most).
    private func collect(_ count: Int, from reader: KafkaTopicReader) async throws -> [KafkaConsumerMessage] {
        try await withDeadline(60) {
            var messages: [KafkaConsumerMessage] = []
            try await reader.follow { message in
                messages.append(message)
                return messages.count < count
            }
            return messages
        }
    }
}

/// A TCP port nobody listens on now (the kernel's pick for an ephemeral bind).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CLIError("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw CLIError("bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Status and body of a GET.
func httpGet(_ url: String) async throws -> (status: Int, body: String) {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), String(buffer: body))
}
