import AsyncHTTPClient
import Foundation
import Kafka
import Logging
import NIOCore
import NIOHTTP1
import ProvisioningContract
import TestSupport
import Testing

/// A chaos run over subprocesses: an embedded cluster of three brokers with its control API, the
/// simulators and three workers, while commands flow and a seeded schedule injects one fault
/// every few seconds. The same seed gives the same schedule (the processes' timing still varies).
struct ChaosRun {
    var seed: UInt64
    var duration: Duration
    /// Commands sent a second while the schedule runs.
    var rate = 25
    var exactlyOnce = false

    enum Fault: CaseIterable, Sendable {
        case brokerDown, requestErrors, roundTripTime, leaderMove, coordinatorMove, kill, terminate, vendorErrors
    }

    struct Result: Sendable {
        var commands = 0
        var faults: [Fault: Int] = [:]
        var repeats = 0
        /// Each repeat (a command's second or later reply) counted against the last fault
        /// injected before the worker wrote it: a rough cause, since a rebalance a fault starts
        /// can outlast the next one. `nil`: before the first fault.
        var repeatsAfter: [Fault?: Int] = [:]
        var unanswered = 0
        var usersHeldTwice = 0
        var conflicts = 0
        /// Workers that had not stopped a minute after SIGTERM.
        var stuckStops: [String] = []
        /// Failed replies by error category and code, attempts made and the last fault before
        /// the reply ("unavailable/HTTP_503 after 5 attempts, after vendorErrors"), so that a run
        /// says what failed and roughly why, not only how often.
        var failed: [String: Int] = [:]
        var summary: String {
            let faultList = Fault.allCases.map { "\($0) \(faults[$0, default: 0])" }.joined(separator: ", ")
            let causes = ([nil] + Fault.allCases.map(Optional.some)).compactMap { fault -> String? in
                guard let count = repeatsAfter[fault], count > 0 else { return nil }
                return "\(fault.map { "\($0)" } ?? "none yet") \(count)"
            }
            let failures = failed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            return "\(commands) commands, \(faults.values.reduce(0, +)) faults (\(faultList)), \(repeats) repeats"
                + (causes.isEmpty ? "" : " (after \(causes.joined(separator: ", ")))")
                + ", \(unanswered) unanswered, \(usersHeldTwice) users held twice, \(conflicts) conflicts, \(failed.values.reduce(0, +)) failed, \(stuckStops.count) stuck stops"
                + (failures.isEmpty ? "" : " (\(failures.joined(separator: ", ")))")
        }
    }

    /// The Kafka APIs the schedule refuses requests of, each with errors a client retries.
    static let requestErrors: [(api: String, errors: [String])] = [
        ("Produce", ["NOT_LEADER_OR_FOLLOWER", "REQUEST_TIMED_OUT"]),
        ("Fetch", ["NOT_LEADER_OR_FOLLOWER", "UNKNOWN_TOPIC_OR_PARTITION"]),
        ("OffsetCommit", ["COORDINATOR_NOT_AVAILABLE", "REBALANCE_IN_PROGRESS"]),
        ("Heartbeat", ["REBALANCE_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE"]),
        ("JoinGroup", ["COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE"]),
        ("SyncGroup", ["REBALANCE_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE"]),
        ("FindCoordinator", ["COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS"]),
    ]

    static let group = "chaos-workers"

    /// librdkafka's mock cluster aborted on one of its own assertions during the run; what the
    /// run was doing then failed with `during`.
    struct EmbeddedClusterAborted: Error, CustomStringConvertible {
        let assertion: String
        let during: any Error
        var description: String { "the embedded cluster aborted (\(assertion)) and the run failed with: \(during)" }
    }

    func run() async throws -> Result {
        print("chaos: seed \(seed), \(duration), \(exactlyOnce ? "exactly once" : "at least once") (replay: scripts/chaos --seed \(seed))")
        let broker = try await BrokerControlTests.ControlledBroker(brokers: 3, partitions: 6)
        defer { broker.process.kill() }
        do {
            return try await run(on: broker)
        } catch {
            if let assertion = broker.mockAssertion { throw EmbeddedClusterAborted(assertion: assertion, during: error) }
            throw error
        }
    }

    /// Every check that could see the cluster's abort throws rather than records an issue, so
    /// that `run()` can tell that abort apart from a failure of the workers.
    private func run(on broker: BrokerControlTests.ControlledBroker) async throws -> Result {
        return try await withKafkaClients { clients in
            let simulator = try ProvisionerProcess(arguments: ["simulate", "--port", "0", "--latency", "5"])
            defer { simulator.kill() }
            let simulatorURL = try #require(try await simulator.firstLine().split(separator: " ").first { $0.hasPrefix("http://") }).description
            let config = try configFile(bootstrap: broker.bootstrap, simulatorURL: simulatorURL)
            return try await ReplyReader.with(bootstrap: broker.bootstrap) { replies in

                var workers = try (0..<3).map { _ in try worker(config) }
                defer { for worker in workers { worker.kill() } }
                var random = SplitMix(seed: seed)
                var result = Result()
                var injected: [(at: Date, fault: Fault)] = []
                let prefix = "chaos-\(seed)-\(exactlyOnce ? "eo" : "alo")"

                // Commands flow at `rate` a second for the whole schedule, from this process.
                var logger = Logger(label: "chaos")
                logger.logLevel = .critical
                // One Produce in flight, as the workers' producers here: with more, a refused batch
                // followed by an accepted one is acknowledged but never written by the embedded cluster
                // (docs/worker-core.md). A soak run lost one command that way: 1,874 of 1,875 in the topic.
                let producer = clients.run(
                    try KafkaProducer(
                        configuration: KafkaProducerConfiguration(
                            bootstrapServers: broker.bootstrap, properties: ["max.in.flight.requests.per.connection": "1"]),
                        logger: logger))
                let total = Int(Double(rate) * duration.seconds)
                let started = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var deliveries: [KafkaPendingDelivery] = []
                        deliveries.reserveCapacity(total)
                        for index in 0..<total {
                            let due = started + .seconds(Double(index) / Double(rate))
                            if due > .now { try await Task.sleep(until: due) }
                            let id = "\(prefix)-\(index)"
                            let value =
                                #"{"commandId":"\#(id)","target":"tecs-test","operation":"createUser","user":{"userName":"\#(id)","email":"\#(id)@example.com"}}"#
                            deliveries.append(try producer.submit(KafkaProducerMessage(topic: "provisioning.commands", key: "tecs-test:\(id)", value: value)))
                        }
                        try await producer.flush()
                        // Every command acknowledged, or the run would wait for answers to commands that never arrived.
                        var failed = 0
                        for delivery in deliveries where (try? await delivery.acknowledgement()) == nil { failed += 1 }
                        guard failed == 0 else { throw CLIError("\(failed) commands not acknowledged by the cluster") }
                    }
                    // The schedule: one fault every 3 to 6 s until the commands are all sent.
                    while ContinuousClock.now - started < duration {
                        try await Task.sleep(for: .milliseconds(3000 + random.next(3000)))
                        let fault = Fault.allCases[random.next(Fault.allCases.count)]
                        result.faults[fault, default: 0] += 1
                        injected.append((Date(), fault))
                        let at = String(format: "%.1f", (ContinuousClock.now - started).seconds)
                        switch fault {
                        case .brokerDown:
                            let id = 1 + random.next(3)
                            print("chaos t+\(at)s: broker \(id) down for 5 s")
                            _ = try await broker.post("/brokers/\(id)/down")
                            try await Task.sleep(for: .seconds(5))
                            _ = try await broker.post("/brokers/\(id)/up")
                        case .requestErrors:
                            let (api, errors) = Self.requestErrors[random.next(Self.requestErrors.count)]
                            let count = 1 + random.next(4)
                            let list = (0..<count).map { "\"\(errors[$0 % errors.count])\"" }.joined(separator: ",")
                            print("chaos t+\(at)s: \(count) request errors on \(api)")
                            _ = try await broker.post("/errors", #"{"api":"\#(api)","errors":[\#(list)]}"#)
                        case .roundTripTime:
                            let id = 1 + random.next(3)
                            print("chaos t+\(at)s: 300 ms RTT on broker \(id) for 5 s")
                            _ = try await broker.post("/brokers/\(id)/rtt", #"{"ms":300}"#)
                            try await Task.sleep(for: .seconds(5))
                            _ = try await broker.post("/brokers/\(id)/rtt", #"{"ms":0}"#)
                        case .leaderMove:
                            let topic = random.next(2) == 0 ? "provisioning.commands" : "provisioning.replies"
                            let (partition, id) = (random.next(6), 1 + random.next(3))
                            print("chaos t+\(at)s: leader of \(topic)[\(partition)] to broker \(id)")
                            _ = try await broker.post("/partitions/\(topic)/\(partition)/leader", #"{"broker":\#(id)}"#)
                        case .coordinatorMove:
                            let id = 1 + random.next(3)
                            print("chaos t+\(at)s: group coordinator to broker \(id)")
                            _ = try await broker.post("/coordinator", #"{"type":"group","key":"\#(Self.group)","broker":\#(id)}"#)
                        case .kill:
                            let victim = random.next(3)
                            print("chaos t+\(at)s: kill -9 worker \(victim), restarted")
                            workers[victim].kill()
                            _ = try? await workers[victim].exitCode()
                            workers[victim] = try worker(config)
                        case .terminate:
                            let victim = random.next(3)
                            print("chaos t+\(at)s: SIGTERM worker \(victim), restarted")
                            if let stuck = await Self.stop(workers[victim], victim) { result.stuckStops.append(stuck) }
                            workers[victim] = try worker(config)
                        case .vendorErrors:
                            print("chaos t+\(at)s: vendor answers 503 for 3 s")
                            _ = try await Self.simulator(simulatorURL, .PUT, "/_sim/faults", #"{"vendor":"tecs","failureRate":1,"failureStatus":503}"#)
                            try await Task.sleep(for: .seconds(3))
                            _ = try await Self.simulator(simulatorURL, .DELETE, "/_sim/faults")
                        }
                    }
                    try await group.waitForAll()
                }
                await clients.stop(producer)
                result.commands = total

                try await replies.waitForAnswers(total, seconds: exactlyOnce ? 600 : 300)
                for (index, worker) in workers.enumerated() {
                    if let stuck = await Self.stop(worker, index) { result.stuckStops.append(stuck) }
                }
                try await replies.drain()
                let ids = replies.commandIds.filter { $0.hasPrefix(prefix) }
                result.repeats = ids.count - Set(ids).count
                // The last fault injected before `date`: a rough cause of what a reply then shows.
                let faultBefore = { [injected] (date: Date) in injected.last { $0.at <= date }?.fault }
                var answered = Set<String>()
                for reply in replies.all.sorted(by: { $0.completedAt < $1.completedAt }) {
                    guard let id = reply.commandId, id.hasPrefix(prefix), !answered.insert(id).inserted else { continue }
                    result.repeatsAfter[faultBefore(reply.completedAt), default: 0] += 1
                }
                result.conflicts = replies.all.filter { $0.error?.category == .conflict }.count
                for reply in replies.all where reply.status == .failed {
                    let error = reply.error.map { "\($0.category)/\($0.code)" } ?? "no error"
                    let after = faultBefore(reply.completedAt).map { "\($0)" } ?? "none yet"
                    result.failed["\(error) after \(reply.attempts) attempts, after \(after)", default: 0] += 1
                }

                // Every command answered, by the operators' own proof.
                let reconcile = try ProvisionerProcess(arguments: ["reconcile", "--config", config, "--grace", "0s", "--format", "json"])
                let (stdout, stderr) = await reconcile.outputs()
                let report = try JSONSerialization.jsonObject(with: Data((stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any]
                result.unanswered = (report?["unanswered"] as? [Any])?.count ?? -1
                var problems: [String] = []
                if try await reconcile.exitCode() != 0 { problems.append("reconcile: \(stdout.suffix(2000)) \(stderr.suffix(500))") }

                // Every user held once by the vendor.
                let users = try await Self.simulator(simulatorURL, .GET, "/_sim/tecs/users")
                let names = (try JSONSerialization.jsonObject(with: Data(users.utf8)) as? [[String: Any]] ?? []).compactMap { $0["consumerId"] as? String }
                let held = Dictionary(grouping: names.filter { $0.hasPrefix(prefix) }, by: { $0 })
                result.usersHeldTwice = held.values.filter { $0.count > 1 }.count
                if held.count != total { problems.append("the vendor holds \(held.count) of \(total) users") }
                print("chaos: seed \(seed), \(exactlyOnce ? "exactly once" : "at least once"): \(result.summary)")
                if !problems.isEmpty { throw CLIError(problems.joined(separator: "; ")) }
                return result
            }
        }
    }

    /// SIGTERM, then the worker's shutdown grace period (10 s) and its Kafka clients' closing
    /// must end it within 60 s; nil if it did, else what it was (its threads' stacks are
    /// written beside its log, and it is killed).
    private static func stop(_ worker: ProvisionerProcess, _ index: Int) async -> String? {
        worker.terminate()
        let started = ContinuousClock.now
        do {
            _ = try await worker.exitCode(within: .seconds(60), stacksBeforeKill: true)
            return nil
        } catch {
            // Not only a timeout: a worker that dies of a signal lands here at once (soak 13: one
            // at 0 s, cause unseen); the error says which.
            let stuck =
                "worker \(index) not stopped cleanly \(Int((ContinuousClock.now - started).seconds)) s after SIGTERM: \(error) (log \(worker.errorsPath), stacks \(worker.stacksPath))"
            print("chaos: \(stuck)")
            return stuck
        }
    }

    private func configFile(bootstrap: String, simulatorURL: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-\(UUID().uuidString).yaml").path
        // Retries that outlast the schedule's 3 s vendor outage on their own: the default policy's
        // backoffs (full jitter under 200 ms doubling) sum to at most 3.0 s over its 5 attempts, so
        // a command the outage met before its worker's breaker opened could give up, correctly,
        // while the outage lasted (a soak run: 2 of 1,875 `unavailable`). With these, the nine
        // backoffs sum to under 3 s for at most about 4 in a million commands.
        //
        // One Produce in flight per connection: the embedded cluster does not check idempotent
        // sequence numbers, and with more, a refused batch followed by an accepted one is lost
        // (docs/worker-core.md). Apache Kafka needs no such setting.
        try """
        kafka:
          bootstrapServers: \(bootstrap)
          groupId: \(Self.group)
          properties: { session.timeout.ms: "6000", max.in.flight.requests.per.connection: "1" }
        worker: { maxInFlight: 64, shutdownGracePeriod: 10s, exactlyOnce: \(exactlyOnce) }
        observability: { port: 0 }
        targets:
          tecs-test:
            vendor: tecs
            baseURL: \(simulatorURL)/usermanagement-backofficews
            credentials: { username: User1, password: Password1 }
            maxConcurrency: 64
            timeout: 10s
            retry: { maxAttempts: 10, initialBackoff: 500ms, maxBackoff: 5s }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func worker(_ config: String) throws -> ProvisionerProcess {
        try ProvisionerProcess(
            arguments: ["run", "--config", config], environment: ["LOG_LEVEL": Binary.workerLogLevel, "PROVISIONER_OBSERVABILITY_PORT": "0"])
    }

    private static func simulator(_ base: String, _ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> String {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 16 << 20))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
