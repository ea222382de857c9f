import Foundation
import Kafka
import Logging
import ProvisioningContract
import Redrive
import Synchronization
import TestSupport
import Testing

/// The redrive engine (contract section 11) against an embedded cluster: what it sends, what it
/// records, and how pacing, pause and cancel act on a redrive under way.
@Suite("Redrive", .timeLimit(.minutes(10)))
struct RedriveTests {
    /// A cluster with a dead-letter topic holding `letters`, and empty commands and replays topics.
    final class Fixture: Sendable {
        let cluster: EmbeddedKafkaCluster
        let logger: Logger
        let producer: KafkaProducer
        let topics = Redrive.Topics(commands: "commands", replays: "replays")

        /// Runs `body` with the fixture's producer running; it is closed after `body`.
        static func with(letters: [(category: String, target: String, value: String)], _ body: (Fixture) async throws -> Void) async throws {
            try await withKafkaClients { clients in try await body(Fixture(letters: letters, clients: clients)) }
        }

        private init(letters: [(category: String, target: String, value: String)], clients: KafkaClients) async throws {
            var logger = Logger(label: "redrive-test")
            logger.logLevel = .critical
            self.logger = logger
            cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
            try cluster.createTopic("dlq", partitions: 3)
            try cluster.createTopic("commands", partitions: 3)
            try cluster.createTopic("replays", partitions: 1)
            producer = clients.run(try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger))
            for (index, letter) in letters.enumerated() {
                let headers = [
                    KafkaHeader(key: "traceparent", value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                    KafkaHeader(key: "dlq.original.topic", value: "commands"), KafkaHeader(key: "dlq.error.category", value: letter.category),
                    KafkaHeader(key: "dlq.error.code", value: letter.category.uppercased()), KafkaHeader(key: "dlq.error.message", value: "it failed"),
                    KafkaHeader(key: "dlq.failed.at", value: Timestamp.format(Date())), KafkaHeader(key: "dlq.attempts", value: "5"),
                ]
                try await producer.send(
                    KafkaProducerMessage(topic: "dlq", key: "\(letter.target):user-\(index)", value: letter.value, headers: headers))
            }
        }

        /// Every record of a topic, from its beginning to its end now.
        func read(_ topic: String) async throws -> [KafkaConsumerMessage] {
            try await KafkaTopicReader(bootstrapServers: cluster.bootstrapServers, topic: topic, logger: logger).readToEnd()
        }

        func deadLetters() async throws -> [DeadLetter] { try await read("dlq").map(DeadLetter.init) }

        func history() async throws -> [RedriveRecord] { try await read("replays").compactMap { try? RedriveRecord.decode($0.value ?? []) } }

        func redrive(_ plan: RedrivePlan, asDryRun: Bool = false, rate: Double? = nil, onProgress: @escaping @Sendable (Redrive.Progress) -> Void = { _ in })
            -> Redrive
        {
            Redrive(plan: plan, by: "test@host", asDryRun: asDryRun, rate: rate, producer: producer, topics: topics, logger: logger, onProgress: onProgress)
        }
    }

    /// `scripts/validate-messages records` over JSON lines (Python, jsonschema from PyPI).
    static func validate(_ lines: [String]) async throws -> (status: Int32, output: String) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("redrives-\(UUID().uuidString).jsonl").path
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return try await runToEnd(["python3", root.appendingPathComponent("scripts/validate-messages").path, "records", file])
    }

    static func command(_ id: String, target: String) -> String {
        #"{"commandId":"\#(id)","target":"\#(target)","operation":"createUser","user":{"userName":"\#(id)","password":"Zq7-SECRET-\#(id)"}}"#
    }

    @Test("a redrive re-publishes each selected dead letter with its key, value and headers, the dlq headers replaced by its own, and records what it covered")
    func redriveAndAudit() async throws {
        let letters =
            (0..<4).map { (category: "unavailable", target: "tecs-test", value: Self.command("u-\($0)", target: "tecs-test")) }
            + (0..<2).map { (category: "validation", target: "urac-test", value: Self.command("v-\($0)", target: "urac-test")) }
        try await Fixture.with(letters: letters) { fixture in
            let deadLetters = try await fixture.deadLetters()
            let plan = RedrivePlan(deadLetters: deadLetters, history: [], filter: DeadLetterFilter(category: "unavailable"), includeReplayed: false)
            #expect(plan.letters.count == 4)
            #expect(plan.preview == [RedrivePlan.Count(target: "tecs-test", category: "unavailable", count: 4)])

            let redrive = fixture.redrive(plan)
            let record = await redrive.run()
            #expect(record.state == .completed && record.error == nil)
            #expect(Set(record.coveredPositions) == Set(plan.letters.map(\.position)))
            #expect(record.by == "test@host" && record.filters == DeadLetterFilter(category: "unavailable") && record.selected == 4)

            let sent = try await fixture.read("commands")
            #expect(sent.count == 4)
            let originals = Dictionary(uniqueKeysWithValues: plan.letters.map { ($0.keyText ?? "", $0) })
            for message in sent {
                let original = try #require(originals[String(decoding: message.key ?? [], as: UTF8.self)])
                #expect(message.value == original.value, "the value byte for byte")
                #expect(message.headers.string("traceparent") == original.headers.string("traceparent"))
                #expect(!message.headers.contains { $0.key.hasPrefix("dlq.") && !$0.key.hasPrefix("dlq.replay.") }, "no dlq.* header of the dead letter")
                #expect(message.headers.string("dlq.replay.id") == redrive.id)
                #expect(message.headers.string("dlq.replay.count") == "1")
                #expect(message.headers.string("dlq.replay.at").flatMap { try? Timestamp.parse($0) } != nil)
            }

            // The audit: written at the start and at the end, keyed by the id; the last one counts.
            let history = try await fixture.history()
            #expect(history.count >= 2 && Set(history.map(\.id)) == [redrive.id])
            #expect(history.first?.state == .running && history.last == record)

            // As published: every audit record matches the contract's schema.
            let raw = try await fixture.read("replays").map { message in
                String(
                    decoding: try JSONSerialization.data(withJSONObject: [
                        "kind": "redrive", "value": try JSONSerialization.jsonObject(with: Data(message.value ?? [])),
                    ]), as: UTF8.self)
            }
            let validation = try await Self.validate(raw)
            #expect(validation.status == 0 && validation.output.contains("\(raw.count) redrive; 0 problem(s)"), "\(validation.output)")

            // The same selection again skips them, unless asked; then the count goes up.
            let again = RedrivePlan(deadLetters: deadLetters, history: history, filter: DeadLetterFilter(category: "unavailable"), includeReplayed: false)
            #expect(again.letters.isEmpty && again.skipped.count == 4)
            let forced = RedrivePlan(deadLetters: deadLetters, history: history, filter: DeadLetterFilter(category: "unavailable"), includeReplayed: true)
            #expect(forced.letters.count == 4 && forced.skipped.isEmpty)
            #expect(await fixture.redrive(forced).run().state == .completed)
            let second = try await fixture.read("commands").filter { $0.headers.string("dlq.replay.id") != redrive.id }
            #expect(second.count == 4 && second.allSatisfy { $0.headers.string("dlq.replay.count") == "2" })
            #expect(RedrivePlan.redriven(try await fixture.history()).values.allSatisfy { $0 == 2 })
        }
    }

    @Test("filters select by category, code, target, time, text and chosen rows; text never finds a redacted secret")
    func filters() async throws {
        try await Fixture.with(letters: [
            (category: "unavailable", target: "tecs-test", value: Self.command("find-me", target: "tecs-test")),
            (category: "validation", target: "urac-test", value: Self.command("other", target: "urac-test")),
            (category: "internal", target: "tecs-test", value: "not json at all"),
        ]) { fixture in
            let letters = try await fixture.deadLetters()
            func selected(_ filter: DeadLetterFilter) -> Set<String> { Set(letters.filter(filter.matches).map { $0.commandId ?? "-" }) }
            #expect(selected(DeadLetterFilter()) == ["find-me", "other", "-"])
            #expect(selected(DeadLetterFilter(category: "validation")) == ["other"])
            #expect(selected(DeadLetterFilter(code: "UNAVAILABLE")) == ["find-me"])
            #expect(selected(DeadLetterFilter(target: "tecs-test")) == ["find-me"])
            #expect(selected(DeadLetterFilter(since: Date().addingTimeInterval(60))).isEmpty)
            #expect(selected(DeadLetterFilter(until: Date().addingTimeInterval(60))).count == 3)
            #expect(selected(DeadLetterFilter(text: "FIND-ME")) == ["find-me"])
            #expect(selected(DeadLetterFilter(text: "not json")) == ["-"])
            #expect(selected(DeadLetterFilter(text: "Zq7-SECRET")).isEmpty, "a secret is not searchable")
            let chosen = try #require(letters.first { $0.commandId == "other" })
            #expect(selected(DeadLetterFilter(positions: [chosen.position])) == ["other"])
            #expect(chosen.redactedValue.contains(#""password":"<redacted>""#) && !chosen.redactedValue.contains("Zq7-SECRET"))
            // The filter as the audit keeps it.
            let filter = DeadLetterFilter(category: "unavailable", since: Date(timeIntervalSince1970: 1_800_000_000), positions: [chosen.position])
            let decoded = try JSONDecoder().decode(DeadLetterFilter.self, from: JSONEncoder().encode(filter))
            #expect(decoded == filter)
        }
    }

    @Test("re-sent as a dry run: every command says dryRun true, a value that is not JSON stays unsent, and nothing counts as redriven")
    func asDryRun() async throws {
        try await Fixture.with(letters: [
            (category: "unavailable", target: "tecs-test", value: Self.command("dry-1", target: "tecs-test")),
            (category: "unavailable", target: "tecs-test", value: "not json"),
        ]) { fixture in
            let plan = RedrivePlan(deadLetters: try await fixture.deadLetters(), history: [], filter: DeadLetterFilter(), includeReplayed: false)
            let record = await fixture.redrive(plan, asDryRun: true).run()
            #expect(record.state == .completed && record.asDryRun && record.unsent == 1 && record.coveredPositions.count == 1)
            let sent = try await fixture.read("commands")
            #expect(sent.count == 1)
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(sent.first?.value ?? []))
            #expect(value["dryRun"] == .bool(true) && value["commandId"] == .string("dry-1"))
            let after = RedrivePlan(
                deadLetters: try await fixture.deadLetters(), history: try await fixture.history(), filter: DeadLetterFilter(), includeReplayed: false)
            #expect(after.letters.count == 2 && after.skipped.isEmpty, "a dry run redrove nothing")
        }
    }

    @Test("paced at 50 a second: pause stops sending until resumed; cancel ends it, with exactly what was sent recorded as covered")
    func pauseResumeCancel() async throws {
        let letters = (0..<40).map { (category: "unavailable", target: "tecs-test", value: Self.command("p-\($0)", target: "tecs-test")) }
        try await Fixture.with(letters: letters) { fixture in
            let plan = RedrivePlan(deadLetters: try await fixture.deadLetters(), history: [], filter: DeadLetterFilter(), includeReplayed: false)
            let (updates, update) = AsyncStream.makeStream(of: Redrive.Progress.self)
            let redrive = fixture.redrive(plan, rate: 50) { update.yield($0) }
            async let finished = redrive.run()

            var progress = updates.makeAsyncIterator()
            while let next = await progress.next(), next.sent < 5 {}
            redrive.pause()
            while let next = await progress.next(), next.state != .paused {}
            // Paused (the audit says so once what was in flight landed): the commands topic holds
            // exactly what the audit covers, and nothing more goes out.
            let audit = try await withDeadline(30) {
                while true {
                    if let record = try await fixture.history().last, record.state == .paused { return record }
                }
            }
            let pausedAt = redrive.progress.sent
            #expect(audit.id == redrive.id && audit.coveredPositions.count == pausedAt)
            #expect(try await fixture.read("commands").count == pausedAt)
            #expect(redrive.progress.sent == pausedAt && redrive.progress.state == .paused, "nothing sent while paused")

            redrive.resume()
            while let next = await progress.next(), next.sent < pausedAt + 10 {}
            redrive.cancel()
            let record = await finished
            update.finish()
            #expect(record.state == .cancelled)
            let sent = try await fixture.read("commands")
            #expect(record.coveredPositions.count == sent.count, "covered is exactly what was sent")
            #expect(sent.count >= pausedAt + 10 && sent.count < 40)
            #expect(try await fixture.history().last == record)
        }
    }

    @Test(
        "a slow pace sends the first record at once; pause is recorded and cancel ends it without waiting out the pace",
        .timeLimit(.minutes(2)))
    func pauseAndCancelDuringPace() async throws {
        try await Fixture.with(letters: Self.slowLetters("s")) { fixture in
            let plan = RedrivePlan(deadLetters: try await fixture.deadLetters(), history: [], filter: DeadLetterFilter(), includeReplayed: false)
            let (updates, update) = AsyncStream.makeStream(of: Redrive.Progress.self)
            // One record every 1,000 s: without an interruptible wait this test runs out of time.
            let redrive = fixture.redrive(plan, rate: 0.001) { update.yield($0) }
            async let finished = redrive.run()
            var progress = updates.makeAsyncIterator()
            while let next = await progress.next(), next.sent < 1, next.state == .running {}
            redrive.pause()
            // Not `try`: a failure must still reach `cancel()`, or the redrive would wait out its pace.
            let audit = try? await withDeadline(30) {
                while true {
                    if let record = try await fixture.history().last, record.state == .paused { return record }
                }
            }
            #expect(audit?.coveredPositions.count == 1, "the audit says paused, with the one record sent")
            redrive.cancel()
            let record = await finished
            update.finish()
            #expect(record.state == .cancelled)
            #expect(record.coveredPositions.count == 1)
            #expect(try await fixture.read("commands").count == 1)
        }
    }

    @Test("cancelling the task that runs a paced redrive cancels the redrive: the rest does not go out unpaced", .timeLimit(.minutes(2)))
    func taskCancelledDuringPace() async throws {
        try await Fixture.with(letters: Self.slowLetters("t")) { fixture in
            let plan = RedrivePlan(deadLetters: try await fixture.deadLetters(), history: [], filter: DeadLetterFilter(), includeReplayed: false)
            let (updates, update) = AsyncStream.makeStream(of: Redrive.Progress.self)
            let redrive = fixture.redrive(plan, rate: 0.001) { update.yield($0) }
            let record = await withTaskGroup(of: RedriveRecord.self) { group in
                group.addTask { await redrive.run() }
                var progress = updates.makeAsyncIterator()
                while let next = await progress.next(), next.sent < 1, next.state == .running {}
                group.cancelAll()
                return await group.next()!
            }
            update.finish()
            #expect(record.state == .cancelled)
            #expect(try await fixture.read("commands").count == 1)
        }
    }

    private static func slowLetters(_ prefix: String) -> [(category: String, target: String, value: String)] {
        (0..<3).map { (category: "unavailable", target: "tecs-test", value: Self.command("\(prefix)-\($0)", target: "tecs-test")) }
    }
}
