import ArgumentParser
import AsyncHTTPClient
import Foundation
import Kafka

/// One benchmark scenario: what runs, on which commands.
struct Scenario: Sendable {
    enum Worker: Sendable { case provisioner, echo, python }

    /// Which commands, under which keys.
    enum Mix: Sendable {
        /// `createUser` round robin over the four vendors, one key per user.
        case vendors(dryRun: Bool)
        /// TECS `createUser`, one user each, under this many distinct keys.
        case keys(Int)
        /// Half the commands on one key, the rest one key each; `alone` sends only the rest.
        case hotKey(alone: Bool)
    }

    var name: String
    var title: String
    var commands: Int
    var worker: Worker = .provisioner
    var workers = 1
    var vendorLatencyMs = 0
    var maxInFlight = 256
    /// Every target's `maxConcurrency`; nil leaves it out of the configuration, so the target
    /// has the default a new user gets (`defaultMaxConcurrency`).
    var maxConcurrency: Int?
    var mix: Mix = .vendors(dryRun: false)
    var partitions = 12
    /// Calls go to `provisioner-bench stub` (answering after `vendorLatencyMs`) instead of the simulators.
    var stub = false
    /// The workers' log level: production's default in the peer comparison.
    var logLevel = "warning"

    /// A target's `maxConcurrency` when the configuration leaves it out (docs/configuration.md).
    static let defaultMaxConcurrency = 64

    static func named(_ name: String, scale: Double) -> Scenario? {
        func count(_ base: Int) -> Int { max(200, Int(Double(base) * scale)) }
        switch name {
        case "raw": return Scenario(name: "raw", title: "raw Kafka path (consume, produce, commit)", commands: count(40_000), worker: .echo)
        case "a":
            return Scenario(name: "a", title: "a. dry run (no HTTP)", commands: count(30_000), maxConcurrency: 256, mix: .vendors(dryRun: true))
        case "b": return Scenario(name: "b", title: "b. simulators, no latency, mixed vendors", commands: count(20_000), maxConcurrency: 256)
        // Against the stub, not the simulators: the vendor's 100 ms costs no CPU, so this measures the worker.
        case "c":
            return Scenario(
                name: "c", title: "c. 100 ms vendor (stub), 2,000 keys, maxInFlight 512", commands: count(20_000), vendorLatencyMs: 100,
                maxInFlight: 512, maxConcurrency: 512, mix: .keys(2000), stub: true)
        // The hot key's replies share one partition, which the embedded broker caps at about 5 MB.
        case "d":
            return Scenario(
                name: "d", title: "d. hot key (half the commands on one key)", commands: count(10_000), maxConcurrency: 256, mix: .hotKey(alone: false))
        case "d-alone":
            return Scenario(name: "d-alone", title: "d. without the hot key", commands: count(10_000), maxConcurrency: 256, mix: .hotKey(alone: true))
        case "e": return Scenario(name: "e", title: "e. three workers, as b", commands: count(20_000), workers: 3, maxConcurrency: 256)
        // The target as a new user writes it: maxConcurrency left at its default.
        case "peer-provisioner", "peer-python":
            let python = name == "peer-python"
            return Scenario(
                name: name,
                title: python ? "peer: Python worker (confluent-kafka, asyncio, aiohttp)" : "peer: provisioner, same job (target's default maxConcurrency)",
                commands: count(20_000), worker: python ? .python : .provisioner, mix: .keys(count(20_000)), partitions: 6, stub: true, logLevel: "info")
        // Waiting: many commands in flight behind a narrow target should cost no more CPU per
        // command than few (issue 29: 512 within 10% of 8).
        case "narrow-8", "narrow-512":
            let inFlight = name == "narrow-8" ? 8 : 512
            return Scenario(
                name: name, title: "narrow: maxConcurrency 8, maxInFlight \(inFlight)", commands: count(20_000), maxInFlight: inFlight, maxConcurrency: 8,
                mix: .keys(count(20_000)), partitions: 6, stub: true, logLevel: "info")
        default: return nil
        }
    }

    /// Commands per second if the worker cost nothing, when the vendor answers after a fixed
    /// latency: the calls that can be in flight at once (maxInFlight, the target's concurrency,
    /// the distinct keys) over that latency.
    var idealThroughput: Double? {
        guard vendorLatencyMs > 0 else { return nil }
        return Double(parallelCalls) * 1000 / Double(vendorLatencyMs)
    }

    /// The vendor calls that can be in flight at once: maxInFlight, capped by the target's
    /// concurrency and, when commands share keys, by the distinct keys (a key's commands run one at a time).
    var parallelCalls: Int {
        var parallel = min(maxInFlight, maxConcurrency ?? Self.defaultMaxConcurrency)
        if case .keys(let keys) = mix { parallel = min(parallel, keys, commands) }
        return parallel
    }

    static let hotKey = "tecs-test:hot"

    /// Every command: its key and value.
    func commandRecords() -> [(key: String, value: String)] {
        (0..<commands).compactMap { index -> (String, String)? in
            switch mix {
            case .vendors(let dryRun):
                return Self.create(index, target: ["tecs-test", "urac-test", "servicemobility-test", "asms-test"][index % 4], dryRun: dryRun)
            case .keys(let keys):
                let (_, value) = Self.create(index, target: "tecs-test", dryRun: false)
                return ("tecs-test:k-\(index % keys)", value)
            case .hotKey(let alone):
                let hot = index % 2 == 0
                if hot && alone { return nil }
                let (key, value) = Self.create(index, target: "tecs-test", dryRun: false)
                return (hot ? Self.hotKey : key, value)
            }
        }
    }

    static func create(_ index: Int, target: String, dryRun: Bool, prefix: String = "bench") -> (key: String, value: String) {
        let user = "\(prefix)\(index)"
        var extensions = ""
        if target == "asms-test" {
            extensions = #","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":"specialist","registerType":"specialist"}}"#
        }
        let value =
            #"{"commandId":"\#(prefix)-\#(index)","target":"\#(target)","operation":"createUser","dryRun":\#(dryRun),"#
            + #""user":{"userName":"\#(user)","email":"\#(user)@example.com","givenName":"Bench","familyName":"User\#(index)","displayName":"Bench \#(index)","password":"Bench-Pa55-\#(index)"\#(extensions)}}"#
        return ("\(target):\(user)", value)
    }

    var needsSimulator: Bool {
        switch (worker, mix) {
        case (.echo, _), (_, .vendors(dryRun: true)): false
        default: true
        }
    }
}

/// What a scenario measured.
struct Measurement: Sendable {
    var scenario: Scenario
    /// Commands per second from the first reply to the last of the throughput phase.
    var throughput: Double
    /// In the hot-key scenario: the other keys' commands per second.
    var otherKeysThroughput: Double?
    var failed: Int
    /// End-to-end latency (command sent → reply written) at half the measured rate, ms.
    var latency: (p50: Double, p99: Double, max: Double)
    var latencyRate: Double
    /// Peak resident memory of the largest worker process, MB.
    var peakRSSMegabytes: Double
    /// CPU seconds of all worker processes during the throughput phase.
    var cpuSeconds: Double
    /// The same for the embedded broker and the simulators, which share the machine's cores.
    var brokerCPUSeconds: Double
    var simulatorCPUSeconds: Double

    var summary: String {
        String(
            format: "%.0f commands/s, %d failed, latency p50 %.1f p99 %.1f max %.1f ms at %.0f/s, RSS %.0f MB, CPU %.1f s (broker %.1f s, simulators %.1f s)",
            throughput, failed, latency.p50, latency.p99, latency.max, latencyRate, peakRSSMegabytes, cpuSeconds, brokerCPUSeconds, simulatorCPUSeconds)
            + (otherKeysThroughput.map { String(format: ", other keys %.0f/s", $0) } ?? "")
            + (ofIdeal.map { String(format: ", %.0f%% of the ideal %.0f/s", $0, scenario.idealThroughput ?? 0) } ?? "")
    }

    /// Throughput as a percentage of the scenario's ideal, when it has one.
    var ofIdeal: Double? { scenario.idealThroughput.map { 100 * throughput / $0 } }

    /// Worker CPU milliseconds per command of the throughput phase.
    var cpuMillisecondsPerCommand: Double { 1000 * cpuSeconds / Double(scenario.commands) }
}

extension Scenario {
    func measure(binaries: Binaries) async throws -> Measurement {
        return try await withKafkaClients { clients in
            let broker = try Child(binaries.provisioner, ["broker", "--brokers", "1", "--partitions", "\(partitions)"])
            defer { broker.stop() }
            let bootstrap = try await broker.firstLine()
            var simulatorPort = 9
            var simulator: Child?
            if needsSimulator {
                let child =
                    stub
                    ? try Child(binaries.bench, ["stub", "--port", "0", "--latency", "\(vendorLatencyMs)"])
                    : try Child(binaries.provisioner, ["simulate", "--port", "0", "--latency", "\(vendorLatencyMs)"])
                simulator = child
                let line = try await child.firstLine()
                guard let address = line.range(of: "127.0.0.1:"), let port = Int(line[address.upperBound...].prefix { $0.isNumber }) else {
                    throw ValidationError("cannot read the simulator's port from '\(line)'")
                }
                simulatorPort = port
            }
            defer { simulator?.stop() }

            let group = "bench-\(name)"
            let config = try Self.configFile(
                bootstrap: bootstrap, group: group, simulatorPort: simulatorPort, maxInFlight: maxInFlight, maxConcurrency: maxConcurrency)
            var workerProcesses: [Child] = []
            defer { for process in workerProcesses { process.stop() } }
            func startWorkers() async throws {
                for _ in 0..<workers {
                    switch worker {
                    case .provisioner:
                        let port = try freePort()
                        let child = try Child(
                            binaries.provisioner, ["run", "--config", config],
                            environment: ["LOG_LEVEL": logLevel, "PROVISIONER_OBSERVABILITY_PORT": "\(port)"])
                        child.healthPort = port
                        workerProcesses.append(child)
                    case .python:
                        guard let python = binaries.peerPython else { throw BenchError("the peer's venv was not prepared") }
                        workerProcesses.append(
                            try Child(
                                python,
                                [
                                    binaries.peer.path, "--bootstrap", bootstrap, "--group", group,
                                    "--url", "http://127.0.0.1:\(simulatorPort)/usermanagement-backofficews", "--in-flight", "\(maxInFlight)",
                                ]))
                    case .echo:
                        workerProcesses.append(
                            try Child(binaries.bench, ["echo", "--bootstrap", bootstrap, "--group", group, "--max-in-flight", "\(maxInFlight)"]))
                    }
                }
            }

            let watermarks = try Watermarks(bootstrap: bootstrap, partitions: Int32(partitions), clients: clients)
            let records = commandRecords()
            let producer = clients.run(
                try KafkaProducer(
                    configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, properties: ["linger.ms": "5"]), logger: quietLogger))
            func preload() async throws {
                for record in records {
                    try await Self.enqueue(producer, KafkaProducerMessage(topic: "provisioning.commands", key: record.key, value: record.value))
                }
                try await producer.flush()
            }
            // One worker: the commands wait on the topic before it starts, so that neither the
            // preload's pace nor joining the group is measured (the window opens at the first reply).
            // Several: they join and settle first, or the window would be their rebalances.
            if workers == 1 {
                try await preload()
                try await startWorkers()
            } else {
                try await startWorkers()
                for child in workerProcesses { try await child.waitUntilReady() }
                try await Task.sleep(for: .seconds(3))  // the members' rebalances settle (a benchmark, not a test)
            }
            let cpuBefore = workerProcesses.map(\.cpuSeconds).reduce(0, +)
            let othersBefore = (broker.cpuSeconds, simulator?.cpuSeconds ?? 0)
            if workers > 1 { try await preload() }
            try await watermarks.waitForReplies(records.count, timeout: .seconds(600))
            Self.stage("throughput phase done")
            let cpuSeconds = workerProcesses.map(\.cpuSeconds).reduce(0, +) - cpuBefore
            let brokerCPU = broker.cpuSeconds - othersBefore.0
            let simulatorCPU = (simulator?.cpuSeconds ?? 0) - othersBefore.1

            // Latency at half the measured rate, each command on a key of its own.
            let throughputReplies = try await RepliesReader.read(bootstrap: bootstrap, partitions: Int32(partitions))
            let throughput = Self.rate(throughputReplies)
            let rate = max(10, throughput / 2)
            let latencyCount = max(100, min(records.count / 2, Int(rate * 4)))
            var sentAt: [String: Int64] = [:]
            let started = ContinuousClock.now
            for index in 0..<latencyCount {
                let due = started + .seconds(Double(index) / rate)
                if due > .now { try await Task.sleep(until: due) }
                var (key, value) = Self.create(index, target: "tecs-test", dryRun: mix.isDryRun, prefix: "latency")
                if worker == .echo { value = String(repeating: "x", count: 300) }
                key = "latency:\(index)"
                sentAt[key] = Int64(Date().timeIntervalSince1970 * 1000)
                try await Self.enqueue(producer, KafkaProducerMessage(topic: "provisioning.commands", key: key, value: value))
            }
            try await producer.flush()
            await clients.stop(producer)
            Self.stage("latency commands sent")
            try await watermarks.waitForReplies(records.count + latencyCount, timeout: .seconds(300))
            Self.stage("latency replies in")
            let all = try await RepliesReader.read(bootstrap: bootstrap, partitions: Int32(partitions))
            Self.stage("replies read")
            var latencies: [Double] = []
            for reply in all {
                guard let key = reply.key, let sent = sentAt[key] else { continue }
                latencies.append(Double(reply.timestamp - sent))
            }
            latencies.sort()
            func percentile(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }

            var otherKeys: Double?
            if case .hotKey(alone: false) = mix {
                otherKeys = Self.rate(throughputReplies, from: throughputReplies.map(\.timestamp).min(), where: { $0.key != Self.hotKey })
            }
            return Measurement(
                scenario: self, throughput: throughput, otherKeysThroughput: otherKeys,
                failed: throughputReplies.filter { $0.failed }.count,
                latency: (percentile(0.5), percentile(0.99), latencies.last ?? 0), latencyRate: rate,
                peakRSSMegabytes: workerProcesses.map(\.peakRSSMegabytes).max() ?? 0, cpuSeconds: cpuSeconds,
                brokerCPUSeconds: brokerCPU, simulatorCPUSeconds: simulatorCPU
            )
        }
    }

    static func stage(_ text: String) {
        FileHandle.standardError.write(Data("  \(text)\n".utf8))
    }

    /// Commands per second between the first reply (or `from`) and the last, of those matching.
    static func rate(_ replies: [ReadReply], from start: Int64? = nil, where include: (ReadReply) -> Bool = { _ in true }) -> Double {
        let chosen = replies.filter(include)
        guard let last = chosen.map(\.timestamp).max(), let first = start ?? chosen.map(\.timestamp).min(), chosen.count > 1, last >= first else {
            return 0
        }
        // Timestamps are whole milliseconds: replies that all share one (a smoke run's few
        // hundred, answered in one batch) span at most that millisecond, not nothing.
        return Double(chosen.count - 1) / (Double(max(last - first, 1)) / 1000)
    }

    static func enqueue(_ producer: KafkaProducer, _ message: KafkaProducerMessage) async throws {
        while true {
            do {
                _ = try producer.enqueue(message)
                return
            } catch  where error.code == .queueFull {
                try await producer.flush()
            }
        }
    }

    static func configFile(bootstrap: String, group: String, simulatorPort: Int, maxInFlight: Int, maxConcurrency: Int?) throws -> String {
        let base = "http://127.0.0.1:\(simulatorPort)"
        let concurrency = maxConcurrency.map { ", maxConcurrency: \($0)" } ?? ""
        let yaml = """
            kafka:
              bootstrapServers: \(bootstrap)
              groupId: \(group)
              # The embedded broker answers a fetch only after fetch.wait.max.ms (500 ms by default)
              # when it has nothing yet, even if records arrive meanwhile: without this, every hop
              # adds up to half a second of waiting that is the mock's, not the worker's.
              properties: { session.timeout.ms: "10000", fetch.wait.max.ms: "5" }
            worker: { maxInFlight: \(maxInFlight) }
            observability: { port: 0, logFormat: json }
            targets:
              tecs-test: { vendor: tecs, baseURL: "\(base)/usermanagement-backofficews", credentials: { username: User1, password: Password1 }\(concurrency) }
              urac-test: { vendor: urac, baseURL: "\(base)/urac", tenant: { id: 5551aca9e179c39b760f7a1a, code: DBTN }, credentials: { key: urac-simulator-key, accessToken: urac-simulator-token }\(concurrency) }
              servicemobility-test: { vendor: servicemobility, baseURL: "\(base)/seiapi/v3", credentials: { username: smadmin, password: smpassword }\(concurrency) }
              asms-test: { vendor: asms, baseURL: "\(base)/ASMSAPI", credentials: { username: asmsadmin, password: asmspassword }\(concurrency) }
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(group)-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

extension Scenario.Mix {
    var isDryRun: Bool {
        if case .vendors(dryRun: true) = self { return true }
        return false
    }
}
