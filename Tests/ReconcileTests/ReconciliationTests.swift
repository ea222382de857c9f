import Kafka
import ProvisioningContract
import Reconcile
import Testing

/// The bookkeeping of contract section 12, fed records directly.
@Suite("Reconciliation: which commands have an answer", .timeLimit(.minutes(10)))
struct ReconciliationTests {
    static func command(_ id: String?, target: String = "tecs-test", partition: Int32 = 0, offset: Int64, at time: Int64 = 1_000) -> KafkaConsumerMessage {
        let value = id.map { #"{"commandId":"\#($0)","target":"\#(target)","operation":"getUser","userId":"u"}"# } ?? "not json"
        return KafkaConsumerMessage(
            topic: "commands", partition: partition, offset: offset, key: Array("\(target):u".utf8), value: Array(value.utf8), headers: [],
            timestampMilliseconds: time)
    }

    static func reply(_ id: String, target: String = "tecs-test") -> KafkaConsumerMessage {
        KafkaConsumerMessage(
            topic: "replies", partition: 0, offset: 0, key: nil, value: Array(#"{"commandId":"\#(id)","target":"\#(target)"}"#.utf8),
            headers: [KafkaHeader(key: "commandId", value: id)], timestampMilliseconds: nil)
    }

    static func deadLetter(partition: Int32, offset: Int64) -> KafkaConsumerMessage {
        KafkaConsumerMessage(
            topic: "dlq", partition: 0, offset: 0, key: nil, value: Array("not json".utf8),
            headers: [
                KafkaHeader(key: "dlq.original.topic", value: "commands"), KafkaHeader(key: "dlq.original.partition", value: "\(partition)"),
                KafkaHeader(key: "dlq.original.offset", value: "\(offset)"),
            ], timestampMilliseconds: nil)
    }

    @Test("a command is answered by a reply naming it, or, when it has no readable commandId, by a dead letter naming its position")
    func answers() {
        var reconciliation = Reconciliation(commandsTopic: "commands", since: nil, until: nil, graceCutoff: 10_000)
        reconciliation.reply(Self.reply("a"))
        reconciliation.reply(Self.reply("a"))
        reconciliation.reply(Self.reply("nobody-asked"))
        reconciliation.deadLetter(Self.deadLetter(partition: 1, offset: 7))
        reconciliation.command(Self.command("a", offset: 0))
        reconciliation.command(Self.command("b", offset: 1))
        reconciliation.command(Self.command(nil, partition: 1, offset: 7))
        reconciliation.command(Self.command(nil, partition: 1, offset: 8))
        reconciliation.finish()
        let total = reconciliation.total
        #expect(total.commands == 4)
        #expect(total.answered == 2)
        #expect(total.duplicates == 1, "a answered twice")
        #expect(total.unanswered == 2)
        #expect(total.unknownReplies == 1)
        #expect(reconciliation.unanswered.map { "\($0.partition)@\($0.offset)" } == ["0@1", "1@8"])
        #expect(reconciliation.unanswered.first?.commandId == "b")
    }

    @Test("a command younger than the grace period is pending, not unanswered; --since and --until leave commands out")
    func graceAndWindow() {
        var reconciliation = Reconciliation(commandsTopic: "commands", since: 1_000, until: 5_000, graceCutoff: 3_000)
        reconciliation.command(Self.command("too-old", offset: 0, at: 999))
        reconciliation.command(Self.command("old", offset: 1, at: 2_000))
        reconciliation.command(Self.command("young", offset: 2, at: 4_000))
        reconciliation.command(Self.command("too-young", offset: 3, at: 5_000))
        reconciliation.finish()
        #expect(reconciliation.total.commands == 2)
        #expect(reconciliation.total.unanswered == 1)
        #expect(reconciliation.total.pending == 1)
        #expect(reconciliation.unanswered.map(\.commandId) == ["old"])
    }

    @Test("the report's JSON has the contract's counts and names each unanswered command; the table says when every command has an answer")
    func report() throws {
        var reconciliation = Reconciliation(commandsTopic: "commands", since: nil, until: nil, graceCutoff: 10_000)
        reconciliation.reply(Self.reply("a", target: "urac-test"))
        reconciliation.command(Self.command("a", target: "urac-test", offset: 0))
        reconciliation.command(Self.command("b", offset: 1, at: 1_000))
        reconciliation.finish()
        let report = ReconcileReport(reconciliation, now: 61_000)
        guard case .object(let object) = try JSONParser.parse(Array(report.json.utf8)) else {
            Issue.record("not an object: \(report.json)")
            return
        }
        #expect(object["commands"] == .integer(2))
        #expect(object["answered"] == .integer(1))
        #expect(object["unanswered"]?.arrayValue?.first?["commandId"]?.stringValue == "b")
        #expect(object["unanswered"]?.arrayValue?.first?["age"]?.stringValue == "1m0s")
        #expect(object["targets"]?["urac-test"]?["answered"] == .integer(1))
        #expect(report.table.contains("1 command without an answer"))

        var answered = Reconciliation(commandsTopic: "commands", since: nil, until: nil, graceCutoff: 10_000)
        answered.reply(Self.reply("a"))
        answered.command(Self.command("a", offset: 0))
        answered.finish()
        #expect(ReconcileReport(answered, now: 61_000).table.hasSuffix("every command has an answer"))
    }

    @Test(
        "read from the beginning, a reply naming a command never read leaves the answer unproven and the report says why; commands outside the window still make their replies known"
    )
    func unproven() {
        var reconciliation = Reconciliation(commandsTopic: "commands", since: nil, until: 5_000, graceCutoff: 10_000)
        reconciliation.reply(Self.reply("in-window"))
        reconciliation.reply(Self.reply("after-the-window"))
        reconciliation.reply(Self.reply("never-written"))
        reconciliation.command(Self.command("in-window", offset: 0, at: 1_000))
        reconciliation.command(Self.command("after-the-window", offset: 1, at: 6_000))
        reconciliation.finish()
        #expect(reconciliation.total.commands == 1)
        #expect(reconciliation.total.unanswered == 0)
        #expect(reconciliation.total.unknownReplies == 1, "only the reply whose command is not in the topic")
        #expect(reconciliation.unreadCommandsAnswered == 1)
        let report = ReconcileReport(reconciliation, now: 61_000)
        #expect(report.unprovenReason?.contains("1 reply names a command that reconcile did not read") == true)
        #expect(report.table.hasSuffix(report.unprovenReason ?? "-"))
        #expect(!report.table.split(separator: "\n").contains("every command has an answer"))

        var since = Reconciliation(commandsTopic: "commands", since: 500, until: nil, graceCutoff: 10_000)
        since.reply(Self.reply("never-written"))
        since.command(Self.command("a", offset: 0, at: 1_000))
        since.finish()
        #expect(since.total.unknownReplies == 1)
        #expect(since.unreadCommandsAnswered == 0, "with --since, older commands are left out on purpose")
        #expect(ReconcileReport(since, now: 61_000).unprovenReason == nil)
    }
}
