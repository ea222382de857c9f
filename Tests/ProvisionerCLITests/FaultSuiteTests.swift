import AsyncHTTPClient
import Foundation
import Testing

/// The fault-injection suite over subprocesses of the built `provisioner`: an embedded broker, the
/// vendor simulators and workers, killed and stopped while they work.
@Suite("Fault suite: subprocesses", .serialized, .timeLimit(.minutes(10)))
struct FaultSuiteTests {
    struct Setup {
        let broker: ProvisionerProcess
        let simulator: ProvisionerProcess
        let bootstrap: String
        let simulatorURL: String
        let config: String

        func stop() {
            broker.kill()
            simulator.kill()
        }
    }

    func setUp(group: String, latencyMs: Int, maxInFlight: Int, exactlyOnce: Bool = false) async throws -> Setup {
        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "6"])
        let bootstrap = try await broker.firstLine()
        let simulator = try ProvisionerProcess(arguments: ["simulate", "--port", "0", "--latency", "\(latencyMs)"])
        let line = try await simulator.firstLine()
        let url = try #require(line.split(separator: " ").first { $0.hasPrefix("http://") }).description
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString).yaml").path
        try """
        kafka:
          bootstrapServers: \(bootstrap)
          groupId: \(group)
          properties: { session.timeout.ms: "4000" }
        worker: { maxInFlight: \(maxInFlight), shutdownGracePeriod: 20s, exactlyOnce: \(exactlyOnce) }
        observability: { port: 0 }
        targets:
          tecs-test:
            vendor: tecs
            baseURL: \(url)/usermanagement-backofficews
            credentials: { username: User1, password: Password1 }
            maxConcurrency: \(maxInFlight)
            timeout: 30s
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return Setup(broker: broker, simulator: simulator, bootstrap: bootstrap, simulatorURL: url, config: config)
    }

    /// TECS creates of distinct users: each one vendor call that succeeds.
    func send(_ setup: Setup, ids: [String]) async throws {
        let lines = ids.map {
            #"{"commandId":"\#($0)","target":"tecs-test","operation":"createUser","user":{"userName":"\#($0)","email":"\#($0)@example.com"}}"#
        }
        let sender = try ProvisionerProcess(arguments: ["send", "--config", setup.config], environment: ["LOG_LEVEL": "error"])
        try sender.send(lines.joined(separator: "\n") + "\n")
        #expect(try await sender.exitCode() == 0)
    }

    func worker(_ setup: Setup, metricsPort: Int = 0) throws -> ProvisionerProcess {
        try ProvisionerProcess(
            arguments: ["run", "--config", setup.config], environment: ["LOG_LEVEL": "error", "PROVISIONER_OBSERVABILITY_PORT": "\(metricsPort)"])
    }

    /// Vendor calls the simulator has received.
    func vendorCalls(_ setup: Setup) async throws -> Int {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: setup.simulatorURL + "/_sim/stats"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        let bytes = body.getBytes(at: body.readerIndex, length: body.readableBytes) ?? []
        let stats = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        return (stats?["tecs"] as? [String: Any])?["calls"] as? Int ?? 0
    }

    @Test("SIGTERM with 500 commands in flight at the vendor: exit 0 within the grace period, every one answered once, and a restart repeats none")
    func sigtermWithWorkInFlight() async throws {
        let setup = try await setUp(group: "sigterm-500", latencyMs: 10_000, maxInFlight: 600)
        defer { setup.stop() }
        try await ReplyReader.with(bootstrap: setup.bootstrap) { replies in
            try await send(setup, ids: (0..<500).map { "t-\($0)" })
            let metricsPort = try freePort()
            let first = try worker(setup, metricsPort: metricsPort)
            defer { first.kill() }
            // Every command is at the vendor (10 s each, so that a slow start cannot let the first ones finish) and none answered yet.
            let deadline = ContinuousClock.now + .seconds(60)
            while try await vendorCalls(setup) < 500 {
                #expect(ContinuousClock.now < deadline, "all 500 reach the vendor")
                if ContinuousClock.now >= deadline { return }
                try await Task.sleep(for: .milliseconds(100))  // polling another process's counter
            }
            #expect(replies.all.isEmpty)
            // Operators see them in flight.
            let metrics = try await httpGet("http://127.0.0.1:\(metricsPort)/metrics").body
            #expect(metrics.contains("provisioner_commands_in_flight 500"))
            let stopped = ContinuousClock.now
            first.terminate()
            #expect(try await first.exitCode() == 0)
            let stopTime = ContinuousClock.now - stopped
            #expect(stopTime < .seconds(20), "within the grace period")
            try await replies.waitForAnswers(500)

            let second = try worker(setup)
            defer { second.kill() }
            try await send(setup, ids: ["after-restart"])
            try await replies.wait("the restarted worker's reply") { $0.contains { $0.commandId == "after-restart" } }
            second.terminate()
            #expect(try await second.exitCode() == 0)
            try await replies.drain()
            let duplicates = replies.commandIds.count - Set(replies.commandIds).count
            #expect(duplicates == 0)
            #expect(replies.all.allSatisfy { $0.status == .succeeded })
            print("SIGTERM with 500 in flight: exit 0 after \(String(format: "%.1f", stopTime.seconds)) s, 0 duplicates after restart")
        }
    }

    /// Every kill costs the embedded cluster a few rebalances (it keeps the dead member until its
    /// session times out, and may elect it leader), during which commits are refused: work done
    /// meanwhile is repeated by the partition's next owner, hence the duplicates counted here.
    /// In exactly-once mode the embedded cluster shows aborted transactions' replies too, and a
    /// killed worker's open transaction is aborted: more duplicates here than on Apache Kafka.
    @Test(
        "kill -9 one of three workers every 8 s during 20,000 commands, restarting it: every command answered",
        arguments: [false, true]
    )
    func killLoop(exactlyOnce: Bool) async throws {
        let total = 20_000
        let setup = try await setUp(group: "kill-loop", latencyMs: 0, maxInFlight: 64, exactlyOnce: exactlyOnce)
        defer { setup.stop() }
        try await ReplyReader.with(bootstrap: setup.bootstrap) { replies in
            try await send(setup, ids: (0..<total).map { "k-\($0)" })
            var workers = try (0..<3).map { _ in try worker(setup) }
            defer { for worker in workers { worker.kill() } }

            // Five kills, 8 s apart, while the commands flow. (The embedded cluster needs about a
            // session timeout for each rebalance, so kills any closer keep the group rebalancing.)
            var kills = 0
            while kills < 5, replies.answeredCount < total {
                try await Task.sleep(for: .seconds(8))  // the rhythm of the kills, not a synchronisation
                let victim = kills % 3
                workers[victim].kill()
                kills += 1
                workers[victim] = try worker(setup)
                print("kill loop: \(replies.answeredCount) answered at kill \(kills)")
            }
            // Exactly once, the embedded cluster discards the offsets committed in transactions, so
            // every restart and rebalance reads its partitions from the start again: the same answers,
            // much more work (8,462 repeats in one run), hence more time under a loaded machine.
            try await replies.waitForAnswers(total, seconds: exactlyOnce ? 600 : 300)
            for worker in workers { worker.terminate() }
            for worker in workers { _ = try? await worker.exitCode() }
            try await replies.drain()
            let ids = replies.commandIds
            let duplicates = ids.count - Set(ids).count
            #expect(Set(ids).count == total)
            #expect(replies.all.allSatisfy { $0.status == .succeeded }, "a repeated create finds its own user")
            // Repeats are reported, not asserted: how many there are depends on how long the embedded
            // cluster's group stays unsettled after each kill, i.e. on the machine's load (1,355 alone,
            // 19,892 once with the whole suite on two cores). The bound on them is tested in SchedulerTests.
            print("kill -9 loop (\(exactlyOnce ? "exactly once" : "at least once")): \(total) commands, \(kills) kills, \(duplicates) duplicate replies")
        }
    }
}
