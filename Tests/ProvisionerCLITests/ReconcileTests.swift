import Foundation
import Kafka
import Logging
import TestSupport
import Testing

/// `provisioner reconcile` (contract section 12) against workers killed and restarted as
/// subprocesses: the proof an operator runs after an incident.
extension CrashAndStopTests {
    /// Runs `reconcile --format json` on the setup's topics: exit code and the parsed object.
    func reconcile(_ setup: Setup, _ arguments: [String] = []) async throws -> (exit: Int32, report: [String: Any]) {
        let process = try ProvisionerProcess(arguments: ["reconcile", "--config", setup.config, "--format", "json"] + arguments)
        let (stdout, stderr) = await process.outputs()
        let exit = try await process.exitCode()
        let line = try #require(stdout.split(separator: "\n").last, "no report; stderr: \(stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        return (exit, report)
    }

    @Test("reconcile after SIGKILL mid-stream names exactly the commands without a reply and exits 1; after a restart it finds none and exits 0")
    func reconcileAfterKill() async throws {
        let (simulator, vendor) = try await slowVendor()
        defer { simulator.kill() }
        let setup = try await setUp(group: "reconcile-workers", maxInFlight: 4, vendor: vendor)
        defer { setup.broker.kill() }
        try await ReplyReader.with(bootstrap: setup.bootstrap) { replies in

            let first = try worker(setup)
            try await replies.wait("the first replies") { $0.count >= 20 }
            first.kill()
            _ = try? await first.exitCode()
            // What the replies topic holds now, read independently of reconcile.
            try await replies.drain()
            let answered = Set(replies.commandIds)
            let expected = Set((0..<total).map { "c-\($0)" }).subtracting(answered)
            #expect(!expected.isEmpty && !answered.isEmpty, "killed mid-stream")

            let afterKill = try await reconcile(setup, ["--grace", "0s"])
            #expect(afterKill.exit == 1)
            let listed = (afterKill.report["unanswered"] as? [[String: Any]] ?? []).compactMap { $0["commandId"] as? String }
            #expect(
                Set(listed) == expected,
                "exactly the unanswered: \(Set(listed).subtracting(expected).count) extra, \(expected.subtracting(listed).count) missing")
            #expect(listed.count == expected.count, "each once")
            #expect(afterKill.report["commands"] as? Int == total)
            #expect(afterKill.report["answered"] as? Int == answered.count)
            let first3 = (afterKill.report["unanswered"] as? [[String: Any]] ?? []).prefix(3)
            #expect(first3.allSatisfy { $0["partition"] is Int && $0["offset"] is Int && $0["target"] as? String == "tecs-test" && $0["age"] is String })
            // Within the default grace of 60 s the same commands are pending, not unanswered.
            let withGrace = try await reconcile(setup)
            #expect(withGrace.exit == 0)
            #expect(withGrace.report["pending"] as? Int == expected.count)

            let second = try worker(setup)
            defer { second.kill() }
            try await replies.waitForAnswers(total)
            second.terminate()
            #expect(try await second.exitCode() == 0)

            let afterRestart = try await reconcile(setup, ["--grace", "0s"])
            #expect(afterRestart.exit == 0)
            #expect((afterRestart.report["unanswered"] as? [Any])?.isEmpty == true)
            #expect(afterRestart.report["answered"] as? Int == total)
            print("reconcile: \(expected.count) of \(total) unanswered after kill -9, 0 after the restart")

            // A reply naming a command the topic never held: read from the beginning, no proof.
            var logger = Logger(label: "reconcile-test")
            logger.logLevel = .critical
            try await KafkaProducer.with(configuration: KafkaProducerConfiguration(bootstrapServers: setup.bootstrap), logger: logger) { producer in
                try await producer.send(
                    KafkaProducerMessage(
                        topic: "provisioning.replies", key: "tecs-test:ghost", value: #"{"commandId":"ghost-1","target":"tecs-test"}"#,
                        headers: [KafkaHeader(key: "commandId", value: "ghost-1")]))
            }
            let unproven = try await reconcile(setup, ["--grace", "0s"])
            #expect(unproven.exit == 3, "cannot prove: a reply names a command never read")
            #expect(unproven.report["unknownReplies"] as? Int == 1)
            #expect((unproven.report["unanswered"] as? [Any])?.isEmpty == true)
            let windowed = try await reconcile(setup, ["--grace", "0s", "--since", "1h"])
            #expect(windowed.exit == 0, "with --since, older commands are left out on purpose")
        }
    }

    @Test("reconcile counts a command that is not JSON as answered by its dead letter; --republish sends the unanswered again as they were")
    func reconcileNonJSON() async throws {
        try await withKafkaClients { clients in
            let setup = try await setUp(group: "reconcile-dlq", send: false)
            defer { setup.broker.kill() }
            var logger = Logger(label: "reconcile-test")
            logger.logLevel = .critical
            let producer = clients.run(try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: setup.bootstrap), logger: logger))
            try await producer.send(KafkaProducerMessage(topic: "provisioning.commands", key: "tecs-test:broken", value: "this is not JSON"))
            await clients.stop(producer)
            try await sendCommands(setup, ids: ["well-formed"])
            let before = try await reconcile(setup, ["--grace", "0s"])
            #expect(before.exit == 1, "no worker yet: both unanswered")
            #expect((before.report["unanswered"] as? [Any])?.count == 2)
            // Re-published as they were (no terminal here: no question asked); each copy is answered too.
            let republish = try ProvisionerProcess(arguments: ["reconcile", "--config", setup.config, "--grace", "0s", "--republish"])
            let (republished, _) = await republish.outputs()
            #expect(try await republish.exitCode() == 1, "the run that found them still reports them")
            #expect(republished.contains("re-published 2 commands to provisioning.commands"), "\(republished)")

            let worker = try worker(setup)
            defer { worker.kill() }
            try await ReplyReader.with(bootstrap: setup.bootstrap) { replies in
                try await replies.wait("both copies of the well-formed command answered") { $0.filter { $0.commandId == "well-formed" }.count == 2 }
                try await deadLetters(2, bootstrap: setup.bootstrap, logger: logger)
                worker.terminate()
                #expect(try await worker.exitCode() == 0)
                let after = try await reconcile(setup, ["--grace", "0s"])
                #expect(after.exit == 0, "\(after.report)")
                #expect(after.report["answered"] as? Int == 4)
                #expect((after.report["targets"] as? [String: [String: Any]])?["-"]?["answered"] as? Int == 2, "the unreadable ones, by their dead letters")
                #expect(after.report["duplicates"] as? Int == 0, "two commands with one commandId and a reply each are not a duplicate")
            }
        }
    }

    private func deadLetters(_ count: Int, bootstrap: String, logger: Logger) async throws {
        let reader = KafkaTopicReader(bootstrapServers: bootstrap, topic: "provisioning.dlq", logger: logger)
        let found = try await withDeadline(60) {
            var seen = 0
            try await reader.follow { _ in
                seen += 1
                return seen < count
            }
            return seen
        }
        #expect(found == count, "the broken commands were dead-lettered")
    }

    @Test("reconcile refuses a bad --since with exit 64 naming the flag")
    func reconcileBadSince() async throws {
        for value in ["yesterday", "2026-13-01T00:00:00Z", "-5m"] {
            let process = try ProvisionerProcess(arguments: ["reconcile", "--config", "/nonexistent.yaml", "--since", value])
            let (_, stderr) = await process.outputs()
            #expect(try await process.exitCode() == 64, "\(value)")
            #expect(stderr.contains("--since"), "\(value): \(stderr)")
        }
    }
}
