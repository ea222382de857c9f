import ArgumentParser
import Assembly
import Console
import EmbeddedKafka
import Foundation
import Kafka
import Logging
import Metrics
import Prometheus
import ProvisionerConfiguration
import ProvisioningContract
import ServiceLifecycle
import Synchronization
import VendorSimulators
import Worker

/// `provisioner dev`: everything at once with no set-up: the embedded cluster, the four vendor
/// simulators, a worker and the console in one process; sends the sample commands and shows
/// their replies.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run embedded Kafka, the vendor simulators, a worker and the console in one process, send the samples and show their replies."
    )

    @Option(help: "The worker configuration; its Kafka servers and simulator URLs are replaced by the embedded ones.")
    var config = "config/worker.yaml"

    @Option(help: "Sample commands, one JSON object a line.")
    var samples = "config/samples.jsonl"

    @Option(help: "Default simulator credentials for the `env:` values the environment does not set.")
    var credentials = "config/simulator.env"

    @Flag(help: "Keep running after the samples, until SIGINT or SIGTERM.")
    var keepRunning = false

    func run() async throws {
        var logger = Logger(label: "provisioner.dev")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        guard let commands = FileManager.default.contents(atPath: samples) else {
            FileHandle.standardError.write(Data("cannot read \(samples)\n".utf8))
            throw ExitCode(64)
        }
        try DevEnvironment.setDefaults(from: credentials)

        let cluster = try EmbeddedCluster.start(brokers: 3, partitions: 12, logger: logger)
        var quiet = logger
        quiet.logLevel = .critical  // the simulators stay out of the replies table
        try await SimulatorServer.withRunning(VendorSimulator(), port: 0, logger: quiet) { simulator in
            try await run(simulator: simulator, cluster: cluster, commands: commands, logger: logger)
        }
        withExtendedLifetime(cluster) {}
    }

    /// Everything but the embedded cluster and the simulators, which outlive it.
    private func run(
        simulator: SimulatorServer, cluster: EmbeddedKafkaCluster, commands: Data, logger: Logger
    ) async throws {
        var settings = try ConfigurationLoader.load(config, sections: .all)
        settings.kafka.bootstrapServers = cluster.bootstrapServers
        settings.kafka.properties["session.timeout.ms"] = "6000"
        DevEnvironment.pointTargets(&settings, at: simulator.port)
        Console.line("embedded Kafka:  \(cluster.bootstrapServers) (topics: \(EmbeddedCluster.contractTopics.joined(separator: ", ")))")
        Console.line("simulators:      \(simulator.baseURL) (tecs, urac, servicemobility, asms)")

        let http = VendorHTTP.makeClient()
        let workerId = "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)"
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let worker: ProvisioningWorker
        do {
            // The replies table shows every outcome: the worker's own warnings (a dead letter)
            // would only land between its rows. LOG_LEVEL still sets it.
            var workerLogger = logger
            if ProcessInfo.processInfo.environment["LOG_LEVEL"] == nil { workerLogger.logLevel = .error }
            worker = try WorkerAssembly.worker(settings: settings, workerId: workerId, version: ProvisionerVersion.current, http: http, logger: workerLogger)
        } catch {
            await http.shutdown()
            throw error
        }
        Console.line("worker:          \(workerId), targets \(settings.targets.keys.sorted().joined(separator: ", "))")
        // The endpoints and the console say where they listen, or that they could not (a port taken).
        let (bound, announce) = AsyncStream.makeStream(of: (service: String, port: Int?).self)
        let endpoints = ObservabilityEndpoints.application(
            worker: worker, registry: registry, port: settings.observability.port, logger: logger, listening: { announce.yield(("metrics", $0)) })
        // The console, with credentials made up for this run (contract section 10).
        let credentials = ConsoleCredentials.madeUp()
        var consoleServices: [any Service] = []
        do {
            consoleServices = try ConsoleApplication.services(
                settings: ConsoleCommand.settings(settings, credentials: credentials, port: nil), logger: logger, listening: { announce.yield(("console", $0)) }
            )
        } catch {
            logger.warning("console not served", metadata: ["error": "\(error)"])
            announce.yield(("console", nil))
        }
        // The samples' run: once the endpoints and the console say where they listen, it sends
        // the samples and prints their replies, then ends dev or, with --keep-running, waits for
        // the signal. A signal meanwhile cancels it.
        let (keepRunning, samples, config, configured) = (self.keepRunning, self.samples, self.config, settings)
        let outcome = Mutex<[String]>([])
        let session = Session {
            var ports: [String: Int?] = [:]
            for await (service, port) in bound where ports[service] == nil {
                ports[service] = port
                if ports.count == 2 { break }
            }
            let metricsPort = ports["metrics"] ?? nil
            if let metricsPort {
                Console.line("metrics, health: http://127.0.0.1:\(metricsPort)/metrics, /health/live, /health/ready")
            }
            if let consolePort = ports["console"] ?? nil {
                Console.line(
                    "console:         http://\(configured.console.host):\(consolePort)/ (sign in as \(credentials.username), password \(credentials.revealedPassword))"
                )
            } else {
                Console.line("console:         not served (port \(configured.console.port) taken?)")
            }
            let missing = try await Self.sendSamples(commands, from: samples, settings: configured, logger: logger)
            outcome.withLock { $0 = missing }
            if keepRunning {
                Console.line("")
                for line in DevEnvironment.byHand(
                    bootstrap: cluster.bootstrapServers, simulator: simulator.baseURL, config: config, metricsPort: metricsPort, settings: configured)
                {
                    Console.line(line)
                }
                try? await gracefulShutdown()
            } else {
                Console.line("")
                Console.line("done: the console, the worker and Kafka stop with dev. `provisioner dev --keep-running` keeps them until Ctrl-C.")
            }
        }
        // One group for all that runs: the worker, and beside it the endpoints and the console,
        // which dev goes on without if they fail, and the samples' run, whose end ends the group.
        // It stops by graceful shutdown (SIGINT, SIGTERM), in reverse order: the worker last.
        let services =
            [ServiceGroupConfiguration.ServiceConfiguration(service: worker)]
            + [Announcing(endpoints, as: "metrics", to: announce)].map { .init(service: $0, failureTerminationBehavior: .ignore) }
            + consoleServices.map { .init(service: Announcing($0, as: "console", to: announce), failureTerminationBehavior: .ignore) }
            + [.init(service: session, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)]
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await http.shutdown()
            throw error
        }
        await http.shutdown()
        if !outcome.withLock({ $0 }).isEmpty { throw ExitCode(70) }
    }

    /// Sends the samples block by block and prints each reply; the commands left unanswered.
    private static func sendSamples(_ commands: Data, from samples: String, settings: ProvisionerConfiguration, logger: Logger) async throws -> [String] {
        // Blocks of samples, separated by blank lines, run one after another: a block's
        // commands may need users that an earlier block created (under another key).
        let blocks = CommandLines.blocks(commands)
        Console.line("sample commands: \(blocks.map(\.count).reduce(0, +)) in \(blocks.count) blocks from \(samples)")
        Console.line("")
        let reader = KafkaTopicReader(settings.kafka, topic: settings.kafka.repliesTopic, logger: logger)
        var summary = ReplySummary()
        var missing: [String] = []
        Console.line(ReplySummary.header)
        for block in blocks {
            // The replies topic's end before the block is sent: its replies all come after it.
            let before = try await reader.extent().mapValues(\.upperBound)
            let sent = try await DevEnvironment.send(block, settings: settings, logger: logger)
            let replies = await DevEnvironment.replies(for: Set(sent), from: reader, after: .offsets(before))
            for reply in replies {
                Console.line(ReplySummary.row(reply, duplicate: summary.add(reply)))
            }
            missing += Set(sent).subtracting(replies.compactMap(\.commandId)).sorted()
        }
        Console.line(summary.table)
        if !missing.isEmpty { Console.line("no reply within a minute for: \(missing.joined(separator: ", "))") }
        return missing
    }
}

/// The samples' run of `dev` as a service of its group; a graceful shutdown cancels it.
private struct Session: Service {
    let body: @Sendable () async throws -> Void

    func run() async throws {
        try await cancelWhenGracefulShutdown { try await body() }
    }
}

/// A service of `dev` that says when it failed, so that `dev` does not wait for its port.
private struct Announcing: Service {
    let service: any Service
    let name: String
    let announce: AsyncStream<(service: String, port: Int?)>.Continuation

    init(_ service: any Service, as name: String, to announce: AsyncStream<(service: String, port: Int?)>.Continuation) {
        self.service = service
        self.name = name
        self.announce = announce
    }

    func run() async throws {
        do {
            try await service.run()
        } catch {
            announce.yield((name, nil))
            throw error
        }
    }
}

enum DevEnvironment {
    /// What `--keep-running` prints to go on by hand against the running stack.
    static func byHand(bootstrap: String, simulator: String, config: String, metricsPort: Int?, settings: ProvisionerConfiguration) -> [String] {
        let topics = settings.kafka
        let environment = "PROVISIONER_KAFKA_BOOTSTRAPSERVERS=\(bootstrap)"
        var lines = [
            "Still running; Ctrl-C stops. Go on by hand in another terminal:",
            "  bootstrap servers  \(bootstrap)",
            "  simulators         \(simulator)  (controls: \(simulator)/_sim/stats, /_sim/faults)",
        ]
        if let metricsPort { lines.append("  metrics            curl -s http://127.0.0.1:\(metricsPort)/metrics | grep provisioner_") }
        lines += [
            "  send commands      \(environment) provisioner send --config \(config) config/samples.jsonl",
            "  follow replies     \(environment) provisioner replies --config \(config) --follow",
            "  dead letters       \(environment) provisioner dlq list --config \(config)",
            "  with kcat          echo '{\"commandId\":\"by-hand-1\",\"target\":\"tecs-test\",\"operation\":\"resetPassword\",\"userId\":\"userlogin\"}' | kcat -b \(bootstrap) -P -t \(topics.commandsTopic) -k tecs-test:userlogin",
            "                     kcat -b \(bootstrap) -C -t \(topics.repliesTopic) -f '%k %h %s\\n' -e",
        ]
        return lines
    }

    /// `NAME=value` lines: sets each variable the environment does not already have.
    static func setDefaults(from path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            let name = String(trimmed[..<equals])
            let value = String(trimmed[trimmed.index(after: equals)...])
            setenv(name, value, 0)
        }
    }

    /// Targets configured at the simulator's default address move to the running simulator.
    static func pointTargets(_ settings: inout ProvisionerConfiguration, at port: Int) {
        for (name, target) in settings.targets {
            guard var components = URLComponents(url: target.baseURL, resolvingAgainstBaseURL: false),
                ["127.0.0.1", "localhost"].contains(components.host ?? ""), components.port == 8080
            else { continue }
            components.port = port
            if let url = components.url { settings.targets[name]?.baseURL = url }
        }
    }

    /// Publishes each command keyed `<target>:<user>`, as `send` does; returns the commandIds.
    static func send(_ block: [[UInt8]], settings: ProvisionerConfiguration, logger: Logger) async throws -> [String] {
        try await KafkaProducer.with(configuration: settings.kafka.producerConfiguration, logger: logger) { producer in
            var ids: [String] = []
            for value in block {
                let key: [UInt8]?
                switch CommandDecoder.decode(value) {
                case .success(let command):
                    key = Array(command.derivedKey.utf8)
                    ids.append(command.commandId)
                case .failure(let rejection):
                    key = nil
                    if let id = rejection.commandId { ids.append(id) }
                }
                try await producer.send(KafkaProducerMessage(topic: settings.kafka.commandsTopic, key: key, value: value))
            }
            return ids
        }
    }

    /// Replies to `ids` written after `start`, in arrival order, waiting up to a minute for all
    /// of them.
    static func replies(for ids: Set<String>, from reader: KafkaTopicReader, after start: KafkaTopicReader.Start) async -> [ProvisioningReply] {
        await withTaskGroup(of: [ProvisioningReply]?.self) { group in
            group.addTask {
                var replies: [ProvisioningReply] = []
                var remaining = ids
                // Ends when every id is answered, or when the deadline cancels it.
                try? await reader.follow(from: start) { message in
                    guard let value = message.value, let reply = try? ProvisioningReply(decoding: value) else { return true }
                    replies.append(reply)
                    if let id = reply.commandId { remaining.remove(id) }
                    return !remaining.isEmpty
                }
                return replies
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return nil
            }
            var replies: [ProvisioningReply] = []
            while let finished = await group.next() {
                if let finished { replies = finished }
                group.cancelAll()
            }
            return replies
        }
    }
}
